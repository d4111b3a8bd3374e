"""Pages that say on load what the server knows (issue 7, items 17, 18 and 22): a pairing link
that cannot be used shows no form; /recover resumes this browser's recovery after a reload;
every page that asks for a mailed code asks for OTP_DIGITS digits."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api
from tests.recovery.test_pairing import NewDevice, start_pairing
from tests.recovery.test_recovery import ALICE, Recovery, activate_backup, mail_text, mailed_code

NOT_VALID = "This pairing link is not valid"
FORM = 'id="pair-form"'


def page(api: Api, path: str) -> tuple[int, str]:
    response = api.get(path)
    return response.status_code, response.get_data(as_text=True)


def title(html: str) -> str:
    """The outcome the page shows on load (empty while the link can be used)."""
    return re.search(r'id="pair-outcome-title"[^>]*>([^<]*)<', html).group(1)


def phase(html: str) -> str:
    return re.search(r'id="pair-page"[^>]*data-phase="([a-z]+)"', html, re.S).group(1)


# ---- /pair/<token> -------------------------------------------------------------------------


def test_a_fresh_pairing_link_shows_the_form(app, signed_in):
    token = start_pairing(signed_in)["token"]
    status, html = page(Api(app.test_client()), f"/pair/{token}")
    assert status == 200 and FORM in html and title(html) == "" and phase(html) == "start"


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 129, "A" * 32])
def test_a_bogus_pairing_link_says_it_is_not_valid_without_a_form(api, token):
    status, html = page(api, f"/pair/{token}")
    assert (
        status == 404 and title(html) == NOT_VALID and FORM not in html and phase(html) == "invalid"
    )
    assert "pair-create" not in html
    assert not re.search(r'id="pair-outcome"[^>]*hidden', html)  # shown on load


def test_a_used_pairing_link_says_it_is_not_valid(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    # Redeemed: another browser gets "not valid"; the phone, reloading, keeps waiting.
    status, html = page(Api(app.test_client()), f"/pair/{token}")
    assert status == 404 and title(html) == NOT_VALID and FORM not in html
    status, html = page(phone.api, f"/pair/{token}")
    assert status == 200 and phase(html) == "waiting" and FORM not in html
    assert f">{phone.confirmation}</p>" in html
    right = {"confirmation": phone.confirmation}
    assert signed_in.post(f"/api/pairing/{token}/approve", right).status_code == 200
    assert phone.api.get(f"/api/pairing/{token}").status_code == 200  # session issued
    for browser in (phone.api, Api(app.test_client()), signed_in):
        status, html = page(browser, f"/pair/{token}")
        assert status == 404 and title(html) == NOT_VALID and FORM not in html


def test_an_expired_pairing_link_says_it_is_not_valid(app, signed_in, clock):
    token = start_pairing(signed_in)["token"]
    clock.advance(app.config["PAIRING_TTL"])
    status, html = page(Api(app.test_client()), f"/pair/{token}")
    assert status == 404 and title(html) == NOT_VALID and FORM not in html


def test_a_rejected_pairing_tells_its_device_so_on_reload(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    phone.redeem(token)
    signed_in.post(f"/api/pairing/{token}/reject")
    status, html = page(phone.api, f"/pair/{token}")
    assert status == 200 and phase(html) == "rejected" and FORM not in html
    assert title(html) == "Your other device rejected this one"


# ---- /recover resumes ----------------------------------------------------------------------


def step(html: str) -> str:
    return re.search(r'id="recover-wizard"[^>]*data-step="(\d)"', html, re.S).group(1)


def test_recover_resumes_where_this_browsers_recovery_is(app, signed_in, mailbox):
    code = activate_backup(signed_in, mailbox)
    recovery = Recovery(app, mailbox)
    assert step(page(recovery.api, "/recover")[1]) == "1"
    assert recovery.begin(code).status_code == 202
    html = page(recovery.api, "/recover")[1]
    assert step(html) == "2" and "a***@example.com" in html
    assert re.search(r'<form id="recover-step-1"[^>]*hidden', html)
    assert not re.search(r'<form id="recover-step-2"[^>]*hidden', html)
    assert step(page(Api(app.test_client()), "/recover")[1]) == "1"  # another browser
    verified = recovery.verify(mailed_code(mailbox, count=2))
    assert verified.status_code == 200
    html = page(recovery.api, "/recover")[1]
    assert step(html) == "3" and not re.search(r'<form id="recover-step-3"[^>]*hidden', html)
    assert recovery.api.post("/api/recovery/options").status_code == 200  # what step 3 asks
    assert recovery.complete(verified.get_json(), "duplicate").status_code == 201
    assert step(page(recovery.api, "/recover")[1]) == "1"


def test_recover_starts_over_once_the_flow_expired(app, signed_in, mailbox, clock):
    code = activate_backup(signed_in, mailbox)
    recovery = Recovery(app, mailbox)
    recovery.begin(code)
    clock.advance(app.config["RECOVERY_FLOW_TTL"])
    assert step(page(recovery.api, "/recover")[1]) == "1"


# ---- OTP_DIGITS ----------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"OTP_DIGITS": 6}], indirect=True)
def test_six_digit_codes_are_asked_for_as_six_digits_everywhere(app, signed_in, mailbox):
    for path in ("/account/backup", "/recover"):
        html = page(signed_in, path)[1]
        assert 'data-digits="6"' in html and "6 digits" in html and 'placeholder="123456"' in html
        assert "8 digits" not in html and 'data-digits="8"' not in html
    assert signed_in.post("/api/backup/activate").status_code == 202
    [mail] = mailbox.wait_for(to=ALICE, count=1)
    otp = re.search(r"^\s+(\d+)\s*$", mail_text(mail), re.M).group(1)
    assert len(otp) == 6
    assert signed_in.post("/api/backup/confirm", {"otp": otp}).status_code == 200


def test_the_digit_count_has_no_default_in_a_template():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [*(root / "templates").rglob("*.html"), *(root / "static" / "js").glob("*.js")]:
        text = path.read_text()
        assert "otp_digits|default" not in text, path
        assert not re.search(r"\b8 digits\b|digits\s*=\s*8\b", text), path
