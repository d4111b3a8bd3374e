"""The named events features emit. Listeners (the audit trail here; notifications and mail in
``notify/``) receive ``db`` (the SQLAlchemy session of the change) and write in that same
transaction, so nothing is recorded or sent for a change that rolled back.

Every event is sent as ``signal.send(None, db=…, user_id=…, device_id=…, client=…, **data)``.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

user_registered = _signals.signal("user_registered")
signed_in = _signals.signal("signed_in")
signed_out = _signals.signal("signed_out")
sign_in_failed = _signals.signal("sign_in_failed")
device_added = _signals.signal("device_added")
device_renamed = _signals.signal("device_renamed")
device_removed = _signals.signal("device_removed")
device_flagged = _signals.signal("device_flagged")

ALL = (
    user_registered,
    signed_in,
    signed_out,
    sign_in_failed,
    device_added,
    device_renamed,
    device_removed,
    device_flagged,
)
