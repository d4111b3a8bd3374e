"""The admin pages in real Chromium: an administrator (made with the CLI, as in production)
signs in, finds an ID by search, blocks one of its devices after the page's passkey step-up,
unblocks it, changes a policy and sees it applied, and ends the ID's sessions. The ID's own
account page, open in another browser, hears of each change live, without a reload."""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import ENGINE_KEY
from core.models import AuditEvent, LoginSession, PolicyValue, User
from tests.browser.test_devices import LIVE_WITHIN, stay_on_page, still_same_page, toast
from tests.browser.test_pages import (
    add_security_key,
    me,
    page_url,
    rows,
    sign_out_quietly,
    sign_up,
)
from webauthn.models import Device as DeviceRow


def grant(server: Any, username: str, role: str = "admin") -> None:
    result = server.app.test_cli_runner().invoke(args=["admin", "grant", username, "--role", role])
    assert result.exit_code == 0, result.output


def user_id(server: Any, username: str) -> int:
    [found] = rows(server, User, User.username == username)
    return int(found.id)


def make_stale(server: Any, username: str) -> None:
    """The ID's last user verification was an hour ago: a change needs a step-up now."""
    uid = user_id(server, username)
    with server.app.extensions[ENGINE_KEY].begin() as conn:
        conn.execute(
            sa.update(LoginSession)
            .where(LoginSession.user_id == uid)
            .values(verified_at=utcnow() - timedelta(hours=1))
        )


def device_status(server: Any, name: str) -> str:
    [device] = rows(server, DeviceRow, DeviceRow.name == name)
    return str(device.status)


def stored_policies(server: Any) -> dict[str, Any]:
    with Session(server.app.extensions[ENGINE_KEY]) as db:
        return {row.key: row.value for row in db.scalars(sa.select(PolicyValue))}


def admin_device_row(dev: Any, name: str) -> Any:
    page = dev.page
    return page.locator("#device-rows [data-device-id]").filter(
        has=page.locator(".device-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def signed_in_user(make_device: Any) -> Any:
    """Ada on her account page: a laptop and a security key, live polling running, marked."""
    ada = make_device()
    sign_up(ada, "ada", device_name="Laptop")
    add_security_key(ada, "YubiKey")
    expect(ada.page.locator("#live-notifications")).to_have_attribute("data-state", "polling")
    stay_on_page(ada)
    return ada


def signed_in_admin(make_device: Any, server: Any) -> Any:
    root = make_device()
    sign_up(root, "root", device_name="Admin laptop")
    grant(server, "root")
    return root


def test_an_admin_finds_a_user_blocks_with_a_step_up_changes_a_policy_and_ends_sessions(
    make_device: Any, server: Any
) -> None:
    ada = signed_in_user(make_device)
    root = signed_in_admin(make_device, server)
    page = root.page

    # ---- find Ada --------------------------------------------------------------------
    root.goto("/admin/users")
    expect(page.locator("#results-summary")).to_have_text("2 IDs found.")
    expect(page.locator(".admin-nav__link")).to_have_count(8)
    expect(page.locator(".admin-nav__link[aria-current='page']")).to_have_text("Users")
    page.fill("#q", "ADA")
    page.press("#q", "Enter")
    expect(page.locator("#results-summary")).to_have_text("1 ID found.")
    expect(page.locator("#results-title")).to_be_focused()
    expect(page).to_have_url(page_url(root, "/admin/users?q=ADA"))
    result = page.locator("#user-rows tr")
    expect(result).to_have_count(1)
    expect(result.locator(".user-devices")).to_have_text("2")
    root.screenshot("admin-users")
    result.locator("a.user-link", has_text="ada").click()
    ada_id = user_id(server, "ada")
    expect(page).to_have_url(page_url(root, f"/admin/users/{ada_id}"))
    expect(page.locator("#user-username")).to_have_text("ada")
    expect(page.locator("#user-heading")).to_have_text("Ada Lovelace")
    expect(page.locator("#device-rows tr")).to_have_count(2)
    expect(page.locator("#session-rows tr")).to_have_count(1)
    expect(page.locator("#backup-state")).to_have_text("Not active")

    # ---- block the security key: the admin's sign-in is stale, so the page steps up ----------
    make_stale(server, "root")
    key = admin_device_row(root, "YubiKey")
    expect(key.locator(".block")).to_be_enabled()
    answers: list[int] = []
    block_url = re.compile(r"/api/admin/devices/\d+/block$")
    page.on("response", lambda r: answers.append(r.status) if block_url.search(r.url) else None)
    with page.expect_response("**/api/reauth/complete") as stepped_up:
        key.locator(".block").click()
    assert stepped_up.value.status == 204
    expect(page.locator("#devices-status")).to_have_text(
        "Blocked “YubiKey”. It is signed out and cannot sign in; the owner is told."
    )
    happened = time.monotonic()
    assert answers == [401, 200]  # refused as stale, then retried once after the step-up
    expect(key).to_have_attribute("data-status", "blocked")
    expect(key.locator(".unblock")).to_be_focused()
    assert device_status(server, "YubiKey") == "blocked"
    [event] = rows(server, AuditEvent, AuditEvent.kind == "device_blocked")
    assert event.data["actor_user_id"] == user_id(server, "root")

    # Ada's open account page hears of it by itself.
    notice = toast(ada, "device_blocked")
    expect(notice).to_be_visible(timeout=LIVE_WITHIN * 1000)
    assert time.monotonic() - happened < LIVE_WITHIN
    expect(notice.locator(".notice-device__name")).to_have_text("YubiKey")
    expect(ada.page.locator("[data-device-id][data-status='blocked'] .device-name")).to_have_text(
        "YubiKey"
    )
    assert still_same_page(ada) and me(ada).status == 200
    root.screenshot("admin-user")

    # ---- unblock (fresh now: no second step-up) -------------------------------------------
    with page.expect_response(re.compile(r"/api/admin/devices/\d+/unblock$")) as unblocked:
        key.locator(".unblock").click()
    assert unblocked.value.status == 200
    expect(key).to_have_attribute("data-status", "active")
    expect(key.locator(".block")).to_be_focused()
    assert device_status(server, "YubiKey") == "active"

    # ---- re-issue Ada's backup code, shown once to hand over --------------------------------
    page.check("input[name='deliver'][value='display']")
    with page.expect_response(re.compile(r"/backup-code$")) as reissued:
        page.click("#reissue")
    assert reissued.value.status == 200
    code = reissued.value.json()["backup_code"]
    dialog = page.locator("#code-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#code-value")).to_have_text(code)
    expect(page.locator("#code-value")).to_be_focused()
    expect(page.locator("#code-warning")).to_contain_text("Shown only this once.")
    root.screenshot("admin-backup-code")
    page.click("#code-close")
    expect(dialog).to_be_hidden()
    expect(page.locator("#code-value")).to_have_text("")  # gone from the page
    expect(page.locator("#reissue")).to_be_focused()
    expect(page.locator("#backup-state")).to_have_attribute("data-state", "active")
    assert code not in page.content()

    # ---- a policy: a refused value is explained on its field, then backup is turned off ----
    root.goto("/admin/policies")
    prompt = page.locator("#policy-BACKUP_PROMPT_AFTER_SIGNINS")
    expect(prompt).to_have_value("4")
    prompt.fill("5000")
    with page.expect_response("**/api/admin/policy") as refused:
        page.click("#save-policies")
    assert refused.value.status == 400
    message = refused.value.json()["message"]
    assert "BACKUP_PROMPT_AFTER_SIGNINS" in message
    expect(page.locator("#status")).to_have_text(message)
    expect(page.locator("#policy-BACKUP_PROMPT_AFTER_SIGNINS-error")).to_have_text(message)
    expect(prompt).to_be_focused()
    expect(prompt).to_have_attribute("aria-invalid", "true")
    assert stored_policies(server) == {}

    prompt.fill("4")
    page.select_option("#policy-BACKUP_MODE", "disabled")
    expect(page.locator("#changed-count")).to_have_text("1 unsaved change")
    with page.expect_response("**/api/admin/policy") as saved:
        page.click("#save-policies")
    assert saved.value.status == 200
    assert saved.value.request.post_data_json == {"BACKUP_MODE": "disabled"}  # changed keys only
    expect(page.locator("#status")).to_have_text("Saved: BACKUP_MODE. It applies at once.")
    expect(page.locator("#policy-BACKUP_MODE-origin")).to_contain_text("Changed here")
    assert stored_policies(server) == {"BACKUP_MODE": "disabled"}
    root.screenshot("admin-policies")
    # Applied: Ada's account page, opened again, says backup is turned off.
    ada.goto("/account")
    expect(ada.page.locator("#backup-status")).to_have_attribute("data-state", "disabled")
    expect(ada.page.locator("#live-notifications")).to_have_attribute("data-state", "polling")

    # ---- end Ada's sessions -------------------------------------------------------------
    root.goto(f"/admin/users/{ada_id}")
    end_all = page.locator("#end-all-sessions")
    expect(end_all).to_be_enabled()
    with page.expect_response(re.compile(r"/sessions/end$")) as ended:
        end_all.click()
    assert ended.value.status == 200 and ended.value.json() == {"ended": 1}
    expect(page.locator("#sessions-status")).to_have_text("Ended 1 session.")
    expect(page.locator("#no-sessions")).to_be_visible()
    expect(page.locator("#sessions-title")).to_be_focused()
    assert me(ada).status == 401
    # Ada's page says its session has ended, and stops asking.
    expect(ada.page.locator("#session-ended")).to_be_visible()
    expect(ada.page.locator("#live-notifications")).to_have_attribute("data-state", "stopped")
    assert me(root).status == 200


def test_a_helpdesk_sees_only_users_and_no_role_sees_the_403_page(
    make_device: Any, server: Any
) -> None:
    desk = make_device()
    sign_up(desk, "desk", device_name="Desk laptop")
    desk.goto("/admin/users")
    expect(desk.page.locator("#error-title")).to_have_text("You can't open this page")
    grant(server, "desk", "helpdesk")
    desk.goto("/admin/")
    expect(desk.page).to_have_url(page_url(desk, "/admin/users"))
    expect(desk.page.locator(".admin-nav__link")).to_have_text(["Users"])
    expect(desk.page.locator("#results-summary")).to_have_text("1 ID found.")
    desk.goto("/admin/policies")
    expect(desk.page.locator("#error-title")).to_have_text("You can't open this page")


def test_the_signed_out_sign_in_and_come_back_to_the_admin_page(
    make_device: Any, server: Any
) -> None:
    root = signed_in_admin(make_device, server)
    sign_out_quietly(root)
    # Sent to sign in (read from the answer: autofill may sign in and move on before a check
    # of the address bar could see /signin).
    answer = root.goto("/admin/policies")
    assert answer is not None
    assert answer.url == server.url + "/signin?next=/admin/policies"
    assert answer.request.redirected_from is not None
    # Autofill signs in with the laptop's passkey by itself, then the page goes on to next.
    expect(root.page).to_have_url(page_url(root, "/admin/policies"))
    expect(root.page.locator("#policy-BACKUP_MODE")).to_have_value("optional")


def unlabelled(page: Any) -> list[str]:
    """The form controls and buttons on the page that have no accessible name."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
              .filter((c) => c.type !== 'hidden' && c.checkVisibility())
              .filter((c) => !(c.labels?.length || c.getAttribute('aria-label')
                || c.getAttribute('aria-labelledby') || c.textContent.trim()))
              .map((c) => c.outerHTML.slice(0, 120))"""
        )
    )


def test_every_admin_page_runs_its_module_without_an_error(make_device: Any, server: Any) -> None:
    """Each page's module loads and runs to the end: where its endpoint answers, it shows the
    data; where it does not (yet), it shows the API's refusal in a live region, never a broken
    page. Every control it shows has a name a screen reader says."""
    root = signed_in_admin(make_device, server)
    uncaught: list[str] = []
    root.page.on("pageerror", lambda exc: uncaught.append(str(exc)))
    for path in [
        "/admin/",
        "/admin/users",
        f"/admin/users/{user_id(server, 'root')}",
        "/admin/invitations",
        "/admin/policies",
        "/admin/authenticators",
        "/admin/websites",
        "/admin/audit",
        "/admin/branding",
    ]:
        root.goto(path)
        root.page.wait_for_load_state("networkidle")
        expect(root.page.locator("[aria-busy='true']")).to_have_count(0)
        assert uncaught == [], (path, uncaught)
        assert unlabelled(root.page) == [], path
        name = path.strip("/").replace("/", "-") or "admin"
        root.screenshot(f"admin-page-{name}")


def test_end_a_session_then_delete_an_id_by_typing_its_username(
    make_device: Any, server: Any
) -> None:
    root = signed_in_admin(make_device, server)
    ada = make_device()
    sign_up(ada, "ada", device_name="Laptop")
    page = root.page
    deletes: list[str] = []
    page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
    root.goto(f"/admin/users/{user_id(server, 'ada')}")
    opener = page.locator("#delete-open")
    expect(opener).to_be_enabled()
    opener.click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    expect(page.locator("#delete-username")).to_have_text("ada")
    expect(page.locator("#delete-confirm")).to_be_focused()
    page.fill("#delete-confirm", "ad")
    page.press("#delete-confirm", "Enter")
    expect(page.locator("#delete-progress")).to_have_text(
        "Type the username exactly as shown to delete this ID."
    )
    expect(page.locator("#delete-confirm")).to_be_focused()
    page.click("#delete-cancel")
    expect(page.locator("#delete-dialog")).to_be_hidden()
    expect(opener).to_be_focused()
    assert deletes == []  # a wrong username sends nothing
    assert me(ada).status == 200

    # End Ada's one session from its row, then delete the ID with its username typed.
    session = page.locator("#session-rows [data-session-id]")
    expect(session).to_have_count(1)
    session.locator(".end-session").click()
    expect(page.locator("#sessions-status")).to_have_text(
        "Session ended. That browser has to sign in again."
    )
    expect(page.locator("#session-rows [data-session-id]")).to_have_count(0)
    assert me(ada).status == 401
    opener.click()
    page.fill("#delete-confirm", "ada")
    with page.expect_response(re.compile(r"/api/admin/users/\d+$")) as deleted:
        page.click("#delete-confirm-button")
    assert deleted.value.status == 204
    expect(page).to_have_url(page_url(root, "/admin/users"))
    expect(page.locator("#results-summary")).to_have_text("1 ID found.")


def test_the_reissue_channels_policy_shapes_the_users_page(make_device: Any, server: Any) -> None:
    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto("/admin/policies")
    channels = page.locator("#policy-BACKUP_REISSUE_CHANNELS")
    expect(channels.get_by_label("email")).to_be_checked()
    channels.get_by_label("email").uncheck()
    with page.expect_response("**/api/admin/policy") as saved:
        page.click("#save-policies")
    assert saved.value.request.post_data_json == {"BACKUP_REISSUE_CHANNELS": ["display"]}
    assert stored_policies(server) == {"BACKUP_REISSUE_CHANNELS": ["display"]}
    root.goto(f"/admin/users/{user_id(server, 'root')}")
    expect(page.locator("input[name='deliver']")).to_have_count(1)
    expect(page.locator("input[name='deliver'][value='display']")).to_be_checked()
    # Back to the configured value.
    root.goto("/admin/policies")
    page.click(".policy-reset")
    with page.expect_response("**/api/admin/policy") as reset:
        page.click("#save-policies")
    assert reset.value.request.post_data_json == {"BACKUP_REISSUE_CHANNELS": None}
    assert stored_policies(server) == {}


def test_deactivate_and_reactivate_an_id(make_device: Any, server: Any) -> None:
    ada = make_device()
    sign_up(ada, "ada", device_name="Laptop")
    expect(ada.page.locator("#live-notifications")).to_have_attribute("data-state", "polling")
    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto(f"/admin/users/{user_id(server, 'ada')}")
    deactivate = page.locator("#deactivate")
    expect(deactivate).to_be_enabled()
    deactivate.click()
    expect(page.locator("#status")).to_contain_text("Deactivated")
    expect(page.locator("#user-status")).to_have_attribute("data-status", "deactivated")
    expect(page.locator("#reactivate")).to_be_focused()
    expect(page.locator("#no-sessions")).to_be_visible()
    assert me(ada).status == 401
    expect(ada.page.locator("#session-ended")).to_be_visible()
    root.goto("/admin/users?status=deactivated")
    expect(page.locator("#status-filter")).to_have_value("deactivated")
    expect(page.locator("#user-rows a.user-link")).to_have_text(["ada"])
    page.locator("#user-rows a.user-link").click()
    page.click("#reactivate")
    expect(page.locator("#user-status")).to_have_attribute("data-status", "active")
    expect(page.locator("#deactivate")).to_be_focused()


def test_the_dashboard_and_the_audit_log_with_its_csv_export(make_device: Any, server: Any) -> None:
    ada = make_device()
    sign_up(ada, "ada", device_name="Laptop")
    add_security_key(ada, "YubiKey")
    root = signed_in_admin(make_device, server)
    page = root.page
    [key] = rows(server, DeviceRow, DeviceRow.name == "YubiKey")
    blocked = page.request.post(
        f"{server.url}/api/admin/devices/{key.id}/block",
        headers={"Origin": server.url, "Content-Type": "application/json"},
        data="{}",
    )
    assert blocked.status == 200  # just signed up: fresh, no step-up

    root.goto("/admin/")
    ids = page.locator(".figure[data-key='users.total']")
    expect(ids.locator(".figure__value")).to_have_text("2")
    expect(page.locator(".figure[data-key='devices.blocked'] .figure__value")).to_have_text("1")
    root.screenshot("admin-dashboard")

    root.goto("/admin/audit")
    page.fill("#f-kind", "device_blocked")
    page.click("#audit-search")
    expect(page.locator("#events-summary")).to_have_text("1 event.")
    event = page.locator("#event-rows tr[data-kind='device_blocked']")
    expect(event).to_contain_text("root")
    expect(page).to_have_url(page_url(root, "/admin/audit?kind=device_blocked"))
    export = page.locator("#audit-export")
    expect(export).to_have_attribute("href", "/api/admin/audit.csv?kind=device_blocked")
    csv = page.request.get(server.url + (export.get_attribute("href") or ""))
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text().strip().splitlines()
    assert lines[0].startswith("id,at,kind,user_id,actor_id,actor")
    assert len(lines) == 2 and ",device_blocked," in lines[1]
    root.screenshot("admin-audit")

    # The ID's own page shows its trail, the administrator as actor.
    root.goto(f"/admin/users/{user_id(server, 'ada')}")
    trail = page.locator("#trail-rows tr[data-kind='device_blocked']")
    expect(trail).to_contain_text("root")


def test_page_through_the_users(make_device: Any, server: Any) -> None:
    root = signed_in_admin(make_device, server)
    with Session(server.app.extensions[ENGINE_KEY]) as db:
        for n in range(24):
            db.add(
                User(
                    user_handle=secrets.token_bytes(32),
                    username=f"user{n:02d}",
                    username_key=f"user{n:02d}",
                    email=f"user{n:02d}@example.org",
                    display_name="",
                )
            )
        db.commit()
    page = root.page
    root.goto("/admin/users")
    expect(page.locator("#results-summary")).to_have_text("25 IDs found.")
    expect(page.locator("#user-rows tr")).to_have_count(20)
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2")
    expect(page.locator("#prev-page")).to_be_disabled()
    page.click("#next-page")
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2")
    expect(page.locator("#user-rows tr")).to_have_count(5)
    expect(page.locator("#results-title")).to_be_focused()
    expect(page).to_have_url(page_url(root, "/admin/users?page=2"))
    expect(page.locator("#next-page")).to_be_disabled()
    # Opened again (a bookmark, Back), the same page shows.
    root.goto("/admin/users?page=2")
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2")
    # A filter applies at once and starts at page 1: nobody here has backup.
    page.select_option("#backup-filter", "true")
    expect(page.locator("#results-summary")).to_have_text("0 IDs found.")
    expect(page).to_have_url(page_url(root, "/admin/users?backup=true"))
    page.select_option("#backup-filter", "")
    # A new search starts at page 1.
    page.fill("#q", "user1")
    page.press("#q", "Enter")
    expect(page.locator("#results-summary")).to_have_text("10 IDs found.")
    expect(page.locator("#user-pager")).to_be_hidden()


def test_a_helpdesk_acts_on_users_but_not_on_administrators(make_device: Any, server: Any) -> None:
    signed_in_admin(make_device, server)
    desk = make_device()
    sign_up(desk, "desk", device_name="Desk laptop")
    grant(server, "desk", "helpdesk")
    ada = make_device()
    sign_up(ada, "ada", device_name="Laptop")
    page = desk.page
    desk.goto(f"/admin/users/{user_id(server, 'ada')}")
    expect(page.locator("#user-username")).to_have_text("ada")
    # No roles, audit trail or delete on a helpdesk's page.
    expect(page.locator("#roles-form")).to_have_count(0)
    expect(page.locator("#trail-rows")).to_have_count(0)
    expect(page.locator("#delete-open")).to_have_count(0)
    laptop = admin_device_row(desk, "Laptop")
    laptop.locator(".block").click()
    expect(laptop).to_have_attribute("data-status", "blocked")
    assert device_status(server, "Laptop") == "blocked"
    # An administrator's page is the 403 page, its ID's data never shown.
    answer = desk.goto(f"/admin/users/{user_id(server, 'root')}")
    assert answer is not None and answer.status == 403
    expect(page.locator("#error-title")).to_have_text("You can't open this page")
