"""Connected websites: the owner of an ID sees the websites it signs in to and disconnects any
of them (which forgets the consent and kills every token the website holds for the ID), and
every other device of the ID, and its address, is told when a website is connected for the
first time."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from tests.clock import Clock
from tests.conftest import ORIGIN, Api, error, execute
from tests.embed.conftest import WEBSITE, Website, code_from, register, sign_in_to
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator

NO_WEBSITES = "No websites use your ID to sign in yet."


def listed(api: Api) -> list[dict[str, Any]]:
    response = api.get("/api/connections")
    assert response.status_code == 200, response.get_json()
    check_response("GET", "/api/connections", 200, response.get_json())
    return response.get_json()["connections"]


def userinfo_status(website: Website, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return website.app.test_client().get("/oauth/userinfo", headers=headers).status_code


def website_notices(api: Api) -> list[dict[str, Any]]:
    answer = api.get("/api/notifications").get_json()
    check_response("GET", "/api/notifications", 200, answer)
    return [n for n in answer["notifications"] if n["kind"] == "website_connected"]


def website_mails(app: Flask) -> list[Any]:
    return list(
        execute(
            app,
            "SELECT recipient, subject, text_body, html_body FROM outbox_mail "
            "WHERE kind = 'notice_website_connected' ORDER BY id",
        )
    )


@pytest.fixture
def untrusted(app: Flask) -> Website:
    client_id, secret = register(app, name="Partner", trusted=False)
    return Website(app, client_id, secret, f"{WEBSITE}/callback")


def consent(api: Api, website: Website) -> dict[str, Any]:
    """The flow at a website that asks: the consent page, Allow, then the token response."""
    url = website.authorize_url()
    page = api.get(url)
    assert page.status_code == 200, "no consent page"
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf
    allowed = api.client.post(
        url, data={"csrf": csrf.group(1), "decision": "allow"}, headers={"Origin": ORIGIN}
    )
    answer = website.redeem(code_from(allowed, website))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


# ---- the list ------------------------------------------------------------------------------


def test_a_website_signed_in_to_is_listed_with_its_origin_and_times(
    signed_in: Api, website: Website, clock: Clock
) -> None:
    assert listed(signed_in) == []
    first = clock.now
    sign_in_to(signed_in, website)
    later = clock.advance(3600)
    sign_in_to(signed_in, website)
    [connection] = listed(signed_in)
    assert connection["website"] == "Shop"
    assert connection["origin"] == WEBSITE
    # A first-party website never asks, so nothing was consented to.
    assert connection["scopes"] == []
    assert datetime.fromisoformat(connection["first_used_at"]) == first
    assert datetime.fromisoformat(connection["last_used_at"]) == later


def test_the_scopes_agreed_to_are_listed(signed_in: Api, untrusted: Website) -> None:
    consent(signed_in, untrusted)
    [connection] = listed(signed_in)
    assert connection["website"] == "Partner"
    assert connection["scopes"] == ["email", "openid", "profile"]


def test_the_origin_is_the_redirect_uris_when_no_origin_is_registered(
    app: Flask, signed_in: Api
) -> None:
    client_id, secret = register(
        app, name="Forum", redirect_uris=["https://forum.example:8443/cb"], origins=[]
    )
    sign_in_to(signed_in, Website(app, client_id, secret, "https://forum.example:8443/cb"))
    assert [c["origin"] for c in listed(signed_in)] == ["https://forum.example:8443"]


def test_the_list_holds_only_this_ids_websites(
    app: Flask, signed_in: Api, website: Website
) -> None:
    sign_in_to(signed_in, website)
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(origin=ORIGIN), username="bob").status_code == 201
    assert listed(bob) == []
    assert NO_WEBSITES in bob.get("/account").get_data(as_text=True)


def test_the_account_page_shows_each_website_and_an_empty_state(
    signed_in: Api, website: Website
) -> None:
    page = signed_in.get("/account").get_data(as_text=True)
    assert "Connected websites" in page
    assert re.search(rf'id="no-connections"\s*>{re.escape(NO_WEBSITES)}', page)
    sign_in_to(signed_in, website)
    [connection] = listed(signed_in)
    page = signed_in.get("/account").get_data(as_text=True)
    row = re.search(
        rf'<li class="session connection" data-connection-id="{connection["id"]}".*?</li>',
        page,
        re.S,
    )
    assert row, page
    assert ">Shop</h3>" in row.group(0) and WEBSITE in row.group(0)
    for moment in (connection["first_used_at"], connection["last_used_at"]):
        assert f'<time datetime="{moment}"' in row.group(0)
    assert "Disconnect" in row.group(0)
    assert re.search(r'id="no-connections" hidden', page)


def test_signed_out_gets_401(client: Any, app: Flask) -> None:
    anonymous = Api(client)
    for response, method, path in (
        (anonymous.get("/api/connections"), "GET", "/api/connections"),
        (anonymous.delete("/api/connections/1"), "DELETE", "/api/connections/1"),
    ):
        assert error(response) == (401, "not_signed_in")
        check_response(method, path, 401, response.get_json())


# ---- disconnect ----------------------------------------------------------------------------


def test_disconnect_kills_the_websites_tokens_and_forgets_it(
    signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    assert userinfo_status(website, tokens["access_token"]) == 200
    [connection] = listed(signed_in)
    response = signed_in.delete(f"/api/connections/{connection['id']}")
    assert response.status_code == 204
    check_response("DELETE", f"/api/connections/{connection['id']}", 204, response.data)
    refreshed = website.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert userinfo_status(website, tokens["access_token"]) == 401
    assert listed(signed_in) == []
    assert NO_WEBSITES in signed_in.get("/account").get_data(as_text=True)
    # A second time: it is gone.
    again = signed_in.delete(f"/api/connections/{connection['id']}")
    assert error(again) == (404, "connection_not_found")


def test_disconnect_forgets_the_consent(signed_in: Api, untrusted: Website) -> None:
    consent(signed_in, untrusted)
    # Remembered: the next sign-in goes straight through to the website.
    assert code_from(signed_in.get(untrusted.authorize_url()), untrusted)
    [connection] = listed(signed_in)
    assert signed_in.delete(f"/api/connections/{connection['id']}").status_code == 204
    assert signed_in.get(untrusted.authorize_url()).status_code == 200  # asks again


def test_disconnect_leaves_other_websites_alone(
    app: Flask, signed_in: Api, website: Website
) -> None:
    other_id, other_secret = register(app, name="Other", redirect_uris=["https://other.example/cb"])
    other = Website(app, other_id, other_secret, "https://other.example/cb")
    kept = sign_in_to(signed_in, other)
    sign_in_to(signed_in, website)
    shop = next(c for c in listed(signed_in) if c["website"] == "Shop")
    assert signed_in.delete(f"/api/connections/{shop['id']}").status_code == 204
    assert [c["website"] for c in listed(signed_in)] == ["Other"]
    assert userinfo_status(other, kept["access_token"]) == 200
    assert other.refresh(kept["refresh_token"]).status_code == 200


def test_another_id_cannot_disconnect_and_learns_nothing(
    app: Flask, signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    before = listed(signed_in)
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(origin=ORIGIN), username="bob").status_code == 201
    theirs = bob.delete(f"/api/connections/{before[0]['id']}")
    missing = bob.delete("/api/connections/999999")
    assert error(theirs) == (404, "connection_not_found")
    check_response("DELETE", "/api/connections/1", 404, theirs.get_json())
    # Exactly what a connection that does not exist answers.
    assert (theirs.status_code, theirs.get_json()) == (missing.status_code, missing.get_json())
    # Nothing changed for alice.
    assert listed(signed_in) == before
    assert userinfo_status(website, tokens["access_token"]) == 200
    assert website.refresh(tokens["refresh_token"]).status_code == 200


def test_disconnect_is_audited(app: Flask, signed_in: Api, website: Website) -> None:
    sign_in_to(signed_in, website)
    [connection] = listed(signed_in)
    signed_in.delete(f"/api/connections/{connection['id']}")
    kinds = [e["kind"] for e in signed_in.get("/api/activity").get_json()["events"]]
    assert kinds[0] == "website_disconnected" and "website_connected" in kinds
    page = signed_in.get("/account/activity").get_data(as_text=True)
    assert "Website disconnected" in page and "Website connected" in page


def test_disconnect_needs_the_origin_header(signed_in: Api, website: Website) -> None:
    sign_in_to(signed_in, website)
    [connection] = listed(signed_in)
    forged = signed_in.client.delete(
        f"/api/connections/{connection['id']}", headers={"Origin": WEBSITE}
    )
    assert error(forged)[0] == 403
    assert listed(signed_in) == [connection]


# ---- every device is told ------------------------------------------------------------------


def test_the_first_connection_tells_the_other_devices_and_the_address(
    app: Flask, two_devices: dict[str, Any], website: Website
) -> None:
    a, b = two_devices["a"], two_devices["b"]
    sign_in_to(b, website)
    [notice] = website_notices(a)
    assert notice["website"] == {"name": "Shop", "origin": WEBSITE}
    assert notice["read"] is False
    assert notice["ip"] == "127.0.0.1"
    # B signed in to the website itself: it knows.
    assert website_notices(b) == []
    # The inbox names the website and where it lives, with nothing to block.
    page = a.get("/account/notifications").get_data(as_text=True)
    item = re.search(rf'data-notification-id="{notice["id"]}".*?</li>', page, re.S)
    assert item, page
    assert "A website was connected to your ID" in item.group(0)
    assert "Shop" in item.group(0) and WEBSITE in item.group(0)
    assert "block-device" not in item.group(0)
    # And a mail to the confirmed address, naming both, without a block link.
    [mail] = website_mails(app)
    assert mail.recipient == "alice@example.com"
    assert mail.subject == "A website was connected to your ID"
    assert "Website: Shop" in mail.text_body and f"Address: {WEBSITE}" in mail.text_body
    assert f"{ORIGIN}/account" in mail.text_body
    assert "/block/" not in mail.text_body and "/block/" not in mail.html_body
    assert "Shop" in mail.html_body and WEBSITE in mail.html_body


def test_consenting_to_a_website_tells_the_other_devices(
    app: Flask, two_devices: dict[str, Any], untrusted: Website
) -> None:
    consent(two_devices["b"], untrusted)
    assert [n["website"]["name"] for n in website_notices(two_devices["a"])] == ["Partner"]
    assert website_notices(two_devices["b"]) == []
    assert len(website_mails(app)) == 1


def test_a_second_sign_in_to_the_same_website_tells_nobody(
    app: Flask, two_devices: dict[str, Any], website: Website, clock: Clock
) -> None:
    a, b = two_devices["a"], two_devices["b"]
    sign_in_to(b, website)
    clock.advance(60)
    sign_in_to(a, website)
    sign_in_to(b, website)
    assert len(website_notices(a)) == 1
    assert website_notices(b) == []
    assert len(website_mails(app)) == 1


def test_a_website_connected_again_after_a_disconnect_is_told_again(
    app: Flask, two_devices: dict[str, Any], website: Website
) -> None:
    a, b = two_devices["a"], two_devices["b"]
    sign_in_to(b, website)
    [connection] = listed(a)
    assert a.delete(f"/api/connections/{connection['id']}").status_code == 204
    sign_in_to(b, website)
    assert len(website_notices(a)) == 2
    assert len(website_mails(app)) == 2


def test_an_unconfirmed_address_gets_no_mail_but_the_devices_are_told(
    app: Flask, two_devices: dict[str, Any], website: Website
) -> None:
    execute(app, "UPDATE users SET email_verified_at = NULL")
    sign_in_to(two_devices["b"], website)
    assert len(website_notices(two_devices["a"])) == 1
    assert website_mails(app) == []
