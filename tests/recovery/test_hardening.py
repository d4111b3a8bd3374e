"""Holes found when Keystead was attacked from outside (issue 7; the numbers are its items),
closed in recovery: a browser id planted in two browsers does not share a pending recovery,
and the device that just recovered was used just now."""

from __future__ import annotations

from tests.conftest import snapshot
from tests.recovery.test_recovery import Recovery, activate_backup, mailed_code, mails_to

# ---- 2. the browser id is issued by the server ---------------------------------------------


def test_a_planted_browser_id_does_not_share_a_pending_recovery(
    app, signed_in, mailbox, monkeypatch
):
    code = activate_backup(signed_in, mailbox)
    victim, attacker = Recovery(app, mailbox), Recovery(app, mailbox)
    planted = "the-same-value-in-both-browsers"
    for browser in (victim, attacker):
        browser.api.client.set_cookie("keystead_browser", planted)
    sent = len(mails_to(mailbox))
    assert victim.begin(code).status_code == 202
    verified = victim.verify(mailed_code(mailbox, count=sent + 1))
    assert verified.status_code == 200, verified.get_json()
    # The victim typed both factors; the attacker's browser, which planted the same value,
    # must not be able to finish the recovery with its own passkey.
    before = snapshot(app)
    options = attacker.api.post("/api/recovery/options")
    assert options.status_code == 401 and options.get_json()["error"] == "recovery_failed"
    assert snapshot(app) == before
    # The victim still can.
    assert victim.complete(verified.get_json()).status_code == 201


# ---- 20. the device that just recovered was used just now ----------------------------------


def test_the_recovered_device_was_last_used_now(app, signed_in, mailbox):
    code = activate_backup(signed_in, mailbox)
    recovered = Recovery(app, mailbox).run(code)
    assert recovered.status_code == 201
    device = recovered.get_json()["device"]
    assert device["last_used_at"] is not None
