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
device_blocked = _signals.signal("device_blocked")
device_unblocked = _signals.signal("device_unblocked")
device_paired = _signals.signal("device_paired")
reauthenticated = _signals.signal("reauthenticated")

# The account panel.
session_ended = _signals.signal("session_ended")
other_sessions_ended = _signals.signal("other_sessions_ended")
display_name_changed = _signals.signal("display_name_changed")
# Sent before the ID's personal data is erased, with ``to`` (the address to tell, or None):
# features delete what they hold for the ID (recovery/erasure.py) and notify/ mails it.
user_deleted = _signals.signal("user_deleted")

# Backup and recovery.
backup_activated = _signals.signal("backup_activated")
backup_code_regenerated = _signals.signal("backup_code_regenerated")
backup_code_reissued = _signals.signal("backup_code_reissued")
recovery_started = _signals.signal("recovery_started")
recovery_failed = _signals.signal("recovery_failed")
device_restored = _signals.signal("device_restored")
device_duplicated = _signals.signal("device_duplicated")

# The ID's addresses.
email_verified = _signals.signal("email_verified")
email_changed = _signals.signal("email_changed")
backup_email_verified = _signals.signal("backup_email_verified")

# An administrator set or unset a policy (``core.policy``): ``user_id`` is None (it concerns no
# ID), the data say which key, its new value (None: back to the configured one), the value
# stored before, and who (``actor_user_id``, or ``actor`` for the command line).
policy_changed = _signals.signal("policy_changed")

# Mail requests that carry a secret (``code``): delivered by notify/, never audited.
email_code_issued = _signals.signal("email_code_issued")
backup_code_delivered = _signals.signal("backup_code_delivered")

AUDITED = (
    user_registered,
    signed_in,
    signed_out,
    sign_in_failed,
    device_added,
    device_renamed,
    device_removed,
    device_flagged,
    device_blocked,
    device_unblocked,
    device_paired,
    reauthenticated,
    session_ended,
    other_sessions_ended,
    display_name_changed,
    user_deleted,
    backup_activated,
    backup_code_regenerated,
    backup_code_reissued,
    recovery_started,
    recovery_failed,
    device_restored,
    device_duplicated,
    email_verified,
    email_changed,
    backup_email_verified,
    policy_changed,
)
"""The events the audit trail records (``email_code_issued`` and ``backup_code_delivered``
carry secrets and are left out on purpose)."""
