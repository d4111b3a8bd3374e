"""Passkey ceremonies (python-fido2 plus the relying-party checks it leaves to us), the
server-side challenge store, devices (credentials), the sign-in pages and the JSON API."""
