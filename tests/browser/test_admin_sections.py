"""The admin sections whose APIs come from the other parts of issue 10 (invitations, websites,
branding, authenticators), in real Chromium: each page drives its API through the step-up and
shows what the API answers, secrets once."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.test_admin import make_stale, signed_in_admin


def test_invite_someone_by_a_link_shown_once_then_revoke_it(make_device: Any, server: Any) -> None:
    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto("/admin/invitations")
    expect(page.locator("#invite-send")).to_be_enabled()
    make_stale(server, "root")
    page.fill("#invite-email", "grace@example.org")
    page.fill("#invite-username", "grace")
    page.check("input[name='deliver'][value='display']")
    with page.expect_response("**/api/reauth/complete"):
        page.click("#invite-send")
    once = page.locator("#invite-once")
    expect(once).to_be_visible()
    expect(once).to_be_focused()
    expect(page.locator("#invite-url")).to_have_text(
        re.compile(re.escape(server.url) + r"/signup\?invitation=[A-Za-z0-9_-]{30,}$")
    )
    expect(page.locator("#invite-qr")).to_have_attribute("src", re.compile(r"^data:image/svg"))
    row = page.locator("#invitation-rows tr", has_text="grace@example.org")
    expect(row.locator(".invitation-status")).to_have_attribute("data-status", "pending")
    root.screenshot("admin-invitation")
    page.click("#invite-done")
    expect(page.locator("#invite-url")).to_have_text("")
    expect(page.locator("#invite-email")).to_be_focused()

    row.locator(".revoke").click()
    expect(page.locator("#list-status")).to_have_text(
        "Invitation revoked: its link no longer works."
    )
    expect(row.locator(".invitation-status")).to_have_attribute("data-status", "revoked")

    # A CSV with a bad row invites nobody; the page says which row.
    page.set_input_files(
        "#import-file",
        files=[
            {
                "name": "people.csv",
                "mimeType": "text/csv",
                "buffer": b"email,username,role\nann@example.org,ann,\nnot-an-address,bob,\n",
            }
        ],
    )
    page.click("#import-send")
    expect(page.locator("#import-status")).to_have_text(
        "Nobody was invited: 1 row needs correcting (below)."
    )
    expect(page.locator("#import-rows tr[data-ok='false']")).to_have_count(1)
    expect(page.locator("#invitation-rows tr", has_text="ann@example.org")).to_have_count(0)


def test_add_a_website_see_its_secret_once_rotate_and_delete(make_device: Any, server: Any) -> None:
    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto("/admin/websites")
    expect(page.locator("#site-save")).to_be_enabled()
    page.fill("#site-name", "Wiki")
    page.fill("#site-redirects", "https://wiki.example.org/callback")
    page.click("#site-save")
    expect(page.locator("#secret-once")).to_be_visible()
    first = page.locator("#secret-value").text_content() or ""
    assert len(first) >= 30
    row = page.locator("#site-rows tr", has_text="Wiki")
    expect(row).to_have_count(1)
    page.click("#secret-done")
    expect(page.locator("#secret-value")).to_have_text("")

    row.locator(".edit").click()
    expect(page.locator("#site-form-title")).to_have_text("Edit “Wiki”")
    page.fill("#site-redirects", "https://wiki.example.org/callback\nhttps://wiki.example.org/cb2")
    page.click("#site-save")
    expect(page.locator("#site-status")).to_have_text("Saved “Wiki”.")
    expect(row).to_contain_text("https://wiki.example.org/cb2")

    row.locator(".rotate").click()
    expect(page.locator("#secret-once")).to_be_visible()
    assert (page.locator("#secret-value").text_content() or "") not in ("", first)

    row.locator(".delete").click()
    page.click("#site-delete-confirm")
    expect(page.locator("#sites-status")).to_have_text("Deleted “Wiki”.")
    expect(page.locator("#site-rows tr", has_text="Wiki")).to_have_count(0)


def test_brand_the_organisation(make_device: Any, server: Any) -> None:
    from PIL import Image

    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto("/admin/branding")
    expect(page.locator("#brand-save")).to_be_enabled()
    page.fill("#brand-name", "Acme Corp")
    page.click("#brand-save")
    expect(page.locator("#brand-status")).to_have_text("Saved. Pages show it from their next load.")
    png = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 30, 30)).save(png, format="PNG")
    page.set_input_files(
        "#logo-file",
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": png.getvalue()}],
    )
    page.click("#logo-save")
    expect(page.locator("#logo-status")).to_have_text("Logo uploaded.")
    expect(page.locator("#logo-preview")).to_be_visible()
    # A file that is not an image is refused in the server's words.
    page.set_input_files(
        "#logo-file", files=[{"name": "x.png", "mimeType": "image/png", "buffer": b"not a png"}]
    )
    page.click("#logo-save")
    expect(page.locator("#logo-status")).to_have_attribute("data-tone", "error")
    root.goto("/admin/branding")
    expect(page.locator(".brand__name")).to_have_text("Acme Corp")


def test_the_authenticators_page_without_metadata(make_device: Any, server: Any) -> None:
    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto("/admin/authenticators")
    expect(page.locator("#save-allowed")).to_be_enabled()
    expect(page.locator("#blob-info")).to_contain_text("No metadata loaded")
    page.click("#save-allowed")
    expect(page.locator("#status")).to_have_text("Saved: any model may be registered.")


def test_pick_the_allowed_models_from_the_loaded_metadata(
    make_device: Any, server: Any, tmp_path: Path
) -> None:
    from tests.webauthn.mds import COMPROMISED, GOOD, shared
    from tests.webauthn.test_metadata import catalogue, load

    mds, vendor = shared()
    loaded = load(server.app, tmp_path, mds.blob(catalogue(vendor), no=5), mds.root)
    assert loaded.exit_code == 0, loaded.output
    root = signed_in_admin(make_device, server)
    page = root.page
    root.goto("/admin/authenticators")
    expect(page.locator("#blob-info")).to_contain_text("BLOB number 5 with 4 models")
    expect(page.locator("#model-rows tr")).to_have_count(4)
    # A compromised model cannot be allowed.
    expect(page.locator(f"#allow-{COMPROMISED}")).to_be_disabled()
    page.fill("#model-filter", "good")
    expect(page.locator("#model-rows tr:visible")).to_have_count(1)
    page.get_by_label("Good Key 5").check()
    expect(page.locator("#allowed-count")).to_have_text("1 allowed")
    with page.expect_response("**/api/admin/policy") as saved:
        page.click("#save-allowed")
    assert saved.value.request.post_data_json == {"ALLOWED_AUTHENTICATORS": [str(GOOD)]}
    expect(page.locator("#status")).to_have_text("Saved: only 1 model may be registered.")
    root.screenshot("admin-authenticators")

    # A BLOB that does not chain to the configured root is refused in the server's words.
    page.set_input_files(
        "#blob-file",
        files=[{"name": "blob.jwt", "mimeType": "text/plain", "buffer": mds.blob([], no=6)}],
    )
    with page.expect_response("**/api/admin/authenticators/blob") as refused:
        page.click("#blob-load")
    assert refused.value.status >= 400
    expect(page.locator("#blob-status")).to_have_text(refused.value.json()["message"])
    expect(page.locator("#blob-info")).to_contain_text("BLOB number 5")
