"""The organisation's administration of Keystead: roles, and the admin services and API over
the features' own functions."""
