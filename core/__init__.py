"""Keystead's foundation: configuration, database, errors, events, security helpers, the ID and
login-session models. Nothing here imports from a feature package."""
