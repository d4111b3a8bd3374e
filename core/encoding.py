"""How bytes travel as text in JSON answers and URLs: base64url without padding (RFC 4648 §5),
the form WebAuthn's JSON gives ids and challenges. Bytes stay bytes below the HTTP edge; the
edge turns them into text with this, not with python-fido2's helpers (views import no fido2)."""

from __future__ import annotations

import base64


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
