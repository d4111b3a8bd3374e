"""Holes found when Keystead was attacked from outside (issue 7; the numbers are its items),
closed at the HTTP edge and the database: a browser id only the server issues, https cookies
and headers, signed-in pages never cached, row ids out of range, WAL switched once at
migration. The other packages' are in their own ``test_hardening.py``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from app import create_app
from core import db as database
from tests.conftest import ORIGIN, base_config, snapshot

ROOT = Path(__file__).resolve().parents[2]


# ---- 2. the browser id is issued by the server --------------------------------------------


def browser_cookie(response: Any, name: str = "keystead_browser") -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


def test_the_server_issues_a_signed_browser_id_and_replaces_a_made_up_one(client):
    first = client.post("/api/authenticate/begin", json={}, headers={"Origin": ORIGIN})
    issued = browser_cookie(first)
    assert issued and issued.count(".") == 1 and len(issued.split(".")[0]) >= 32
    # The issued value is honoured: no new cookie.
    again = client.post("/api/authenticate/begin", json={}, headers={"Origin": ORIGIN})
    assert browser_cookie(again) is None
    # A value the client made up, or a real one with its signature changed, is replaced.
    token, signature = issued.split(".")
    tampered = signature[:-1] + ("B" if signature.endswith("A") else "A")
    for planted in (
        "planted-by-an-attacker",
        token,
        f"{token}.{tampered}",
        f"x.{signature}",
    ):
        client.set_cookie("keystead_browser", planted)
        response = client.post("/api/authenticate/begin", json={}, headers={"Origin": ORIGIN})
        replaced = browser_cookie(response)
        assert replaced and replaced != planted, planted


HTTPS_ORIGIN = "https://id.example.test"


@pytest.mark.parametrize(
    "config_overrides", [{"ORIGIN": HTTPS_ORIGIN, "RP_ID": "id.example.test"}], indirect=True
)
def test_https_origin_uses_host_cookies_and_hsts(app):
    client = app.test_client()
    response = client.post(
        "/api/authenticate/begin",
        json={},
        headers={"Origin": HTTPS_ORIGIN},
        base_url=HTTPS_ORIGIN,
    )
    assert response.status_code == 200
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-keystead_browser=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-keystead_session"
    page = client.get("/signin", base_url=HTTPS_ORIGIN)
    assert "Strict-Transport-Security" in page.headers


def test_plain_http_origin_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/signin").headers


# ---- 10. signed-in pages are never cached ------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/account", "/account/backup", "/account/notifications", "/account/activity"]
)
def test_signed_in_pages_are_not_stored(signed_in, path):
    page = signed_in.get(path)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/js/ui.js")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


# ---- 7. ids out of range are a 404, never a 500 --------------------------------------------


@pytest.mark.parametrize("value", [2**31, 2**63, 2**64, 10**30, 0])
@pytest.mark.parametrize(
    "method,path",
    [
        ("patch", "/api/devices/{}"),
        ("delete", "/api/devices/{}"),
        ("post", "/api/devices/{}/block"),
        ("post", "/api/notifications/{}/read"),
    ],
)
def test_ids_out_of_range_are_not_found(app, signed_in, method, path, value):
    before = snapshot(app)
    response = getattr(signed_in.client, method)(
        path.format(value), json={"name": "x"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert snapshot(app) == before


def test_the_largest_id_is_routed_and_simply_not_found(signed_in):
    response = signed_in.post(f"/api/devices/{2**31 - 1}/block")
    # Routed to the view (fresh session), which finds no such device of this ID.
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


# ---- 24. WAL is switched once, at migration ------------------------------------------------


def test_migrating_a_new_sqlite_file_switches_it_to_wal(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.db"
    app = create_app(base_config(url, tmp_path))
    database.upgrade(app)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_server_connections_never_switch_the_journal_mode(tmp_path):
    """Workers only use the file as migrations left it (switching needs an exclusive lock,
    and workers racing for it answered 'database is locked')."""
    path = tmp_path / "plain.db"
    import sqlite3

    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    engine = database.make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_on_a_fresh_database_answer_their_first_requests_at_once(tmp_path):
    url = f"sqlite:///{tmp_path}/keystead.db"
    env = {
        **os.environ,
        "KEYSTEAD_ENV": "production",
        "KEYSTEAD_SECRET_KEY": "two-workers-test-key",
        "KEYSTEAD_SQLALCHEMY_DATABASE_URI": url,
        "KEYSTEAD_MAIL_WORKER": "false",
        "KEYSTEAD_RATELIMIT_ENABLED": "false",
        "KEYSTEAD_INSTANCE_PATH": str(tmp_path),
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run(  # noqa: S603 - our own venv binaries
        [str(bin_dir / "flask"), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own venv binaries
        [
            str(bin_dir / "gunicorn"),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        booted = 0
        deadline = time.monotonic() + 30
        while booted < 2 and time.monotonic() < deadline:
            line = server.stderr.readline() if server.stderr else ""
            booted += "Booting worker" in line
        assert booted == 2, "gunicorn did not start two workers"
        time.sleep(0.5)
        barrier = threading.Barrier(8)
        statuses: list[int] = []

        def first_request(i: int) -> None:
            barrier.wait()
            response = requests.post(
                f"http://127.0.0.1:{port}/api/register/begin",
                json={"username": f"user{i}", "email": f"user{i}@example.com"},
                headers={"Origin": "http://localhost:5000"},
                timeout=30,
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=first_request, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 8
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()
