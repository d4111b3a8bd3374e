"""A mailed block link stops working AT its TTL (``tests/clock.py`` stops the app's clock)."""

from __future__ import annotations

import pytest

from tests.clock import AT, BEFORE
from tests.conftest import execute
from tests.notify.test_devices_told import block_link
from tools.softauthn import SoftAuthenticator

# ---- block links ---------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 404)])
def test_a_block_link_works_until_its_ttl(clock, app, signed_in, mailbox, offset, expected):
    # Notices with block links go to a verified address.
    execute(app, "UPDATE users SET email_verified_at = created_at")
    assert signed_in.add_device(SoftAuthenticator(attachment="cross-platform")).status_code == 201
    token = block_link(mailbox, 1)
    clock.advance(app.config["BLOCK_LINK_TTL"] + offset)
    assert app.test_client().get(f"/block/{token}").status_code == expected
