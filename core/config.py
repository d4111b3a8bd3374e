"""Every configuration key, its default, what it does and the values it accepts, in one place.

Layers, later ones winning (see ``app.create_app``): these defaults → ``instance/config.py`` →
``KEYSTEAD_<KEY>`` environment variables (each read by its key's type, so
``KEYSTEAD_CHALLENGE_TTL=60`` is an int and ``KEYSTEAD_RATELIMIT_ENABLED=false`` a bool) → the
test mapping. Start-up checks the result against the declarations and stops with a
``ConfigError`` saying what a key accepts. Keys declared ``policy=True`` may then change while
the server runs (``core.policy``: values stored in the database win over these layers). The
README's configuration table is generated from ``SETTINGS`` by a test, so a key documented here
is a key documented there. (Past 400 lines on purpose: most of it is that one table of keys.)
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ENV_PREFIX = "KEYSTEAD_"
HOST_COOKIE_PREFIX = "__Host-"
# Read before configuration exists (where instance/ is), so not a configuration key.
BOOTSTRAP_VARIABLES = frozenset({"KEYSTEAD_INSTANCE_PATH"})
DAY = 86400


class ConfigError(RuntimeError):
    """Configuration that cannot work; start-up stops with this message."""


@dataclass(frozen=True)
class Setting:
    """One key: its default, what it does, and the values it accepts (its type, a range for
    whole numbers, the choices for words), declared once: start-up checks every layer against
    it, ``parse`` reads an environment variable or a command-line value by it, and
    ``core.policy`` checks a value stored while running by it. ``policy``: the key may change
    while the server runs (``core.policy``); the others are read once, at start-up."""

    default: Any
    doc: str
    type: type = str
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    policy: bool = False
    # For lists: the pattern every item must match in full, and what such an item is called.
    item_pattern: str | None = None
    item_name: str = "strings"

    @property
    def nullable(self) -> bool:
        """Keys without a default may be left unset (start-up derives or skips them)."""
        return self.default is None

    def values(self) -> str:
        """The accepted values in words (errors and the README's table)."""
        if self.choices:
            quoted = [f"'{choice}'" for choice in self.choices]
            if self.type is list:
                return (
                    "a list of "
                    + ", ".join(quoted[:-1])
                    + " and "
                    + quoted[-1]
                    + ", each at most once"
                )
            return ", ".join(quoted[:-1]) + " or " + quoted[-1]
        if self.type is bool:
            return "true or false"
        if self.type is int:
            if self.max is None:
                return f"a whole number of at least {self.min or 0}"
            return f"a whole number from {self.min or 0} to {self.max}"
        if self.type is list:
            return f"a list of {self.item_name}"
        return "a string"

    def problem(self, key: str, value: Any) -> str | None:
        """What is wrong with ``value`` for this key, or None when it is acceptable."""
        if value is None:
            return None if self.nullable else f"{key} must be set"
        if self.type is bool:
            fits = isinstance(value, bool)
        elif self.type is int:
            fits = isinstance(value, int) and not isinstance(value, bool)
            if fits and self.min is not None and value < self.min:
                fits = False
            if fits and self.max is not None and value > self.max:
                fits = False
        elif self.type is list:
            fits = isinstance(value, list) and all(isinstance(item, str) for item in value)
            if fits and self.choices:
                fits = set(value) <= set(self.choices) and len(set(value)) == len(value)
            if fits and self.item_pattern is not None:
                fits = all(re.fullmatch(self.item_pattern, item) for item in value)
        else:
            fits = isinstance(value, str) and (not self.choices or value in self.choices)
        return None if fits else f"{key} must be {self.values()}"

    def parse(self, key: str, raw: str) -> Any:
        """A value written as text (an environment variable, a command-line argument) read by
        this key's type; ``ConfigError`` when it is not one. Strings are taken as they are (a
        secret made of digits stays a string)."""
        if self.type is int:
            if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw.strip()):
                raise ConfigError(f"{key} must be {self.values()}, not {raw!r}")
            value: Any = int(raw)
        elif self.type is bool:
            words = {"true": True, "1": True, "false": False, "0": False}
            if raw.strip().lower() not in words:
                raise ConfigError(f"{key} must be true or false, not {raw!r}")
            value = words[raw.strip().lower()]
        elif self.type is list:
            value = [raw] if raw.strip() else None  # empty: unset (the derived default)
            if raw.lstrip().startswith("["):
                try:
                    value = json.loads(raw)
                except ValueError:
                    raise ConfigError(f"{key} must be a JSON list of strings") from None
        else:
            value = raw
        problem = self.problem(key, value)
        if problem:
            raise ConfigError(problem)
        return value


SETTINGS: dict[str, Setting] = {
    "ENV": Setting(
        "production",
        "`development` (what `make run` sets: a secret key generated once into `instance/`, "
        "the debugger) or `production` (`SECRET_KEY` required).",
        choices=("development", "production"),
    ),
    "SECRET_KEY": Setting(
        None,
        "Key for signing and keyed hashes (fake credential ids, token hashes). Required in "
        "production; generated into `instance/secret_key` in development.",
    ),
    "RP_ID": Setting(
        "localhost",
        "WebAuthn relying-party id: the registrable domain passkeys are bound to. Never taken from "
        "the Host header.",
    ),
    "RP_NAME": Setting("Keystead", "Name shown by browsers in the passkey dialog and on pages."),
    "ORIGIN": Setting(
        "http://localhost:5000",
        "The origin users browse (scheme://host[:port]); when it is https, cookies are `Secure` "
        "with the `__Host-` prefix and responses carry `Strict-Transport-Security`.",
    ),
    "ALLOWED_ORIGINS": Setting(
        None,
        "JSON list of origins accepted in ceremonies and in the `Origin` header of state-changing "
        "requests; exact matches only. Default: `[ORIGIN]`.",
        list,
    ),
    "SQLALCHEMY_DATABASE_URI": Setting(
        None,
        "Any SQLAlchemy URL (PostgreSQL: `postgresql+psycopg://user@host/db`). Default: SQLite "
        "file `instance/keystead.db` (WAL, busy timeout).",
    ),
    "CHALLENGE_TTL": Setting(
        300,
        "Seconds a ceremony challenge stays valid; also sent to browsers as `timeout` (ms). "
        "Below 10 seconds nobody could touch a key in time.",
        int,
        min=10,
        max=3600,
        policy=True,
    ),
    "USER_VERIFICATION": Setting(
        "required",
        "`required` (passkey alone is enough to sign in, so the authenticator must verify the "
        "user: PIN or biometrics) or `preferred`.",
        choices=("required", "preferred"),
        policy=True,
    ),
    "RESIDENT_KEY": Setting(
        "required",
        "`required` (every new passkey is discoverable, so usernameless sign-in and autofill work) "
        "or `preferred` (also accepts older security keys without resident-key storage).",
        choices=("required", "preferred"),
        policy=True,
    ),
    # Browsers keep a cookie 400 days at most, whatever Max-Age says.
    "SESSION_LIFETIME": Setting(
        1209600,
        "Seconds a sign-in session lasts at most (default 14 days).",
        int,
        min=60,
        max=400 * DAY,
        policy=True,
    ),
    "SESSION_IDLE_TIMEOUT": Setting(
        259200,
        "Seconds of inactivity after which a sign-in session ends (default 3 days).",
        int,
        min=60,
        max=400 * DAY,
        policy=True,
    ),
    "SESSION_COOKIE_NAME": Setting(
        "keystead_session",
        "Cookie holding the opaque session id; with an https `ORIGIN` it gets the `__Host-` "
        "prefix.",
    ),
    "BROWSER_COOKIE_NAME": Setting(
        "keystead_browser",
        "Cookie holding the browser id (issued and signed by the server) that binds pending "
        "ceremonies to this browser; with an https `ORIGIN` it gets the `__Host-` prefix.",
    ),
    "RATELIMIT_ENABLED": Setting(
        True, "Rate limits on ceremony endpoints; `false` only for load tests.", bool
    ),
    "RATELIMIT_STORAGE_URI": Setting(
        "memory://",
        "Flask-Limiter storage; `redis://127.0.0.1:6379/0` to share limits between workers.",
    ),
    "RATELIMIT_FAIL_CLOSED": Setting(
        False,
        "When the rate-limit store (Redis) is unreachable: `false` (default) keeps serving with "
        "per-process in-memory limits and logs one warning per outage; `true` answers 503 "
        "`unavailable` with `Retry-After` until the store is back.",
        bool,
    ),
    "RATELIMIT_CEREMONY": Setting(
        "30 per minute;300 per hour",
        "Per-IP limit on each ceremony begin/complete endpoint.",
    ),
    "TRUSTED_PROXY_COUNT": Setting(
        0,
        "Number of reverse proxies in front of Keystead whose `X-Forwarded-For` is trusted for the "
        "client IP. 0 (default) ignores the header, so it cannot be spoofed.",
        int,
        min=0,
        max=10,
    ),
    "REAUTH_MAX_AGE": Setting(
        300,
        "Seconds a passkey sign-in or step-up counts as fresh for sensitive actions (block, "
        "unpair, start or approve a pairing, a new backup code).",
        int,
        min=30,
        max=DAY,
        policy=True,
    ),
    "REGISTRATION": Setting(
        "open",
        "Who may create an ID: `open` (anyone), `invite` (only with an administrator's "
        "invitation: 403 `invitation_required` otherwise) or `closed` (403 "
        "`registration_closed`). An invitation link works whatever this says: that is how the "
        "first administrator of a closed server gets in (`flask --app app admin invite`). "
        "Adding a device, recovery and pairing are never gated.",
        choices=("open", "invite", "closed"),
        policy=True,
    ),
    "INVITATION_TTL": Setting(
        604800,
        "Seconds an administrator's invitation stays valid (7 days); the CLI's enrollment link "
        "(`admin invite`) lasts 24 hours.",
        int,
        min=3600,
        max=90 * DAY,
        policy=True,
    ),
    "BACKUP_MODE": Setting(
        "optional",
        "`optional` (users choose), `on_enrollment` (every new ID activates backup during "
        "sign-up) or `disabled` (backup and recovery endpoints answer 403 `backup_disabled`).",
        choices=("optional", "on_enrollment", "disabled"),
        policy=True,
    ),
    "BACKUP_CODE_DELIVERY": Setting(
        "display",
        "`display` (a new backup code is shown once on screen) or `email` (it is mailed "
        "instead, to a second address the user adds and confirms for it: never to the sign-in "
        "address, which receives recovery's email code).",
        choices=("display", "email"),
        policy=True,
    ),
    "BACKUP_REISSUE_CHANNELS": Setting(
        ["email", "display"],
        "How an administrator may re-issue a lost backup code from the admin panel: `email` "
        "(mailed to the ID's confirmed backup address), `display` (shown once to the "
        "administrator, to hand over in person or read out on the phone). An empty list: "
        "administrators cannot re-issue codes (the `reissue-backup-code` command still can).",
        list,
        choices=("email", "display"),
        policy=True,
    ),
    "BACKUP_PROMPT_AFTER_SIGNINS": Setting(
        4,
        "From this passkey sign-in on, users without backup are prompted to activate it.",
        int,
        min=0,
        max=1000,
        policy=True,
    ),
    "RESTORE_REMOVES_OLD_DEVICES": Setting(
        False,
        "`true` forces every recovery to be a restore (other devices removed, their sessions "
        "ended); `false` lets the user choose restore or duplicate.",
        bool,
        policy=True,
    ),
    "OTP_DIGITS": Setting(
        8, "Digits in an emailed one-time code.", int, min=6, max=10, policy=True
    ),
    "OTP_TTL": Setting(
        600,
        "Seconds an emailed one-time code stays valid.",
        int,
        min=60,
        max=DAY,
        policy=True,
    ),
    "MAIL_CODE_COOLDOWN": Setting(
        30,
        "Seconds before a mailed code of the same kind (activation, recovery, address "
        "confirmation…) goes to the same address again (429 `too_many_mails` with `Retry-After`).",
        int,
        min=0,
        max=3600,
        policy=True,
    ),
    "MAIL_CODES_PER_HOUR": Setting(
        10,
        "Mailed codes of all kinds per address, and per ID, within any hour (429 "
        "`too_many_mails` beyond): nobody can make Keystead flood a mailbox.",
        int,
        min=1,
        max=1000,
        policy=True,
    ),
    "RECOVERY_FLOW_TTL": Setting(
        900,
        "Seconds a started recovery (backup code accepted) has to be completed.",
        int,
        min=60,
        max=DAY,
        policy=True,
    ),
    "RECOVERY_MAX_FAILURES": Setting(
        10,
        "Failures within `RECOVERY_WINDOW` before a lock (429 `too_many_attempts`, until the "
        "oldest leaves the window): per browser (its own wrong backup or email codes) and per "
        "ID for email codes only (recovery step 2, reached only with the right backup code; "
        "and, counted apart, the signed-in owner's wrong codes when activating or renewing "
        "backup). A wrong backup code never locks an ID. From the 4th failure on, each waits "
        "1, 2, 4 … at most 60 seconds.",
        int,
        min=1,
        max=1000,
        policy=True,
    ),
    "RECOVERY_MAX_FAILURES_PER_IP": Setting(
        30,
        "Failed recovery steps from one IP within `RECOVERY_WINDOW` before its further tries "
        "are slowed (1, 2, 4 … at most 60 seconds after the last failure); an IP is never "
        "locked, so colleagues behind one address are not locked out by each other's typos.",
        int,
        min=0,
        max=10000,
        policy=True,
    ),
    "RECOVERY_WINDOW": Setting(
        3600,
        "Seconds over which recovery and backup failures are counted.",
        int,
        min=60,
        max=30 * DAY,
        policy=True,
    ),
    "BLOCK_LINK_TTL": Setting(
        604800,
        'Seconds a "This wasn\'t me — block it" link in a mail stays valid (7 days).',
        int,
        min=3600,
        max=365 * DAY,
        policy=True,
    ),
    "PAIRING_TTL": Setting(
        300, "Seconds a QR pairing code stays valid.", int, min=30, max=3600, policy=True
    ),
    "NOTIFICATION_POLL_INTERVAL": Setting(
        3,
        "Seconds between the pages' checks for new notifications (the live view).",
        int,
        min=1,
        max=3600,
        policy=True,
    ),
    "OIDC_SUBJECT_TYPE": Setting(
        "pairwise",
        "The `sub` websites get: `pairwise` (a different stable value for each website, so two "
        "websites cannot correlate their users) or `public` (one value for every website).",
        choices=("pairwise", "public"),
    ),
    "OIDC_CODE_TTL": Setting(
        60, "Seconds an authorization code stays redeemable.", int, min=10, max=600
    ),
    "OIDC_ACCESS_TOKEN_TTL": Setting(
        300, "Seconds an access token for a website lasts.", int, min=60, max=3600
    ),
    "OIDC_ID_TOKEN_TTL": Setting(
        600,
        "Seconds an ID token is valid; a retired signing key stays in the JWKS this long.",
        int,
        min=60,
        max=DAY,
    ),
    "OIDC_REFRESH_TOKEN_TTL": Setting(
        2592000,
        "Seconds a website's refresh token lasts unused (30 days); each use rotates it. It dies "
        "sooner with the Keystead session or device it came from.",
        int,
        min=300,
        max=400 * DAY,
    ),
    "ATTESTATION_REQUIRED": Setting(
        False,
        "`true`: registration asks for `direct` attestation and accepts only an authenticator "
        "whose attestation verifies against the attestation roots the loaded FIDO Metadata "
        "Service BLOB lists for its AAGUID (`flask --app app mds load`); self and `none` "
        "attestation are refused (400 `attestation_not_trusted`). Models whose latest MDS "
        "status is a compromise are refused whatever this says.",
        bool,
        policy=True,
    ),
    "ALLOWED_AUTHENTICATORS": Setting(
        [],
        "AAGUIDs (lowercase UUIDs) of the authenticator models that may be registered; empty: "
        "any. Enforced only with `ATTESTATION_REQUIRED` (400 `authenticator_not_allowed`): "
        "without verified attestation an AAGUID is only a claim.",
        list,
        policy=True,
        item_pattern=r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        item_name="lowercase UUIDs",
    ),
    "MDS_TRUST_ROOT": Setting(
        None,
        "Path to the certificate (PEM or DER) a FIDO Metadata Service BLOB must chain to. "
        "Default: the FIDO Alliance's root (GlobalSign Root CA - R3), shipped with Keystead.",
    ),
    "AUDIT_RETENTION_DAYS": Setting(
        365,
        "Days the audit trail keeps an event; `flask --app app purge` (cron) deletes older ones "
        "(an ID's latest `BACKUP_PROMPT_AFTER_SIGNINS` sign-ins stay: the backup prompt counts "
        "them). 0 keeps every event forever. Set in the configuration only, never by an "
        "administrator while running: whoever could shorten it could erase the trail of what "
        "they did.",
        int,
        min=0,
        max=100 * 365,
    ),
    "MAX_CONTENT_LENGTH": Setting(
        65536, "Largest accepted request body in bytes (413 beyond).", int, min=1
    ),
    "MAIL_SERVER": Setting(
        None,
        "SMTP host for outgoing mail. Unset (the `make run` default): mail stays in the outbox, "
        "is logged (recipient and subject) and, in development, is readable at `/dev/mailbox`.",
    ),
    "MAIL_PORT": Setting(
        25, "SMTP port (587 for STARTTLS submission, 465 for SMTPS).", int, min=1, max=65535
    ),
    "MAIL_USE_TLS": Setting(False, "Upgrade the SMTP connection with STARTTLS.", bool),
    "MAIL_USE_SSL": Setting(
        False, "Connect with implicit TLS (SMTPS); not with `MAIL_USE_TLS`.", bool
    ),
    "MAIL_USERNAME": Setting(None, "SMTP login (with `MAIL_PASSWORD`); unset: no login."),
    "MAIL_PASSWORD": Setting(None, "SMTP password."),
    "MAIL_DEFAULT_SENDER": Setting(
        "Keystead <keystead@localhost>", "The `From` of every mail: `Name <address>`."
    ),
    "MAIL_TIMEOUT": Setting(
        30, "Seconds an SMTP connect or reply may take before it fails.", int, min=1, max=3600
    ),
    "MAIL_WORKER": Setting(
        True,
        "Run a delivery thread in each server process (with `MAIL_SERVER` set); `false` leaves "
        "delivery to `flask --app app send-mail` (cron) or another process.",
        bool,
    ),
    "MAIL_POLL_INTERVAL": Setting(
        5,
        "Seconds between the worker's looks at the outbox for retries and mail queued by other "
        "processes; mail committed in this process is sent at once.",
        int,
        min=1,
        max=3600,
    ),
    "MAIL_RETRY_INITIAL": Setting(
        10,
        "Seconds before the first retry of a failed delivery; doubled at each failure.",
        int,
        min=1,
        max=DAY,
    ),
    "MAIL_RETRY_MAX": Setting(
        300, "Longest wait in seconds between two delivery attempts.", int, min=0, max=DAY
    ),
    "MAIL_RETRY_FOR": Setting(
        259200,
        "Seconds after which an undelivered mail is given up (`failed_at` set, body erased, "
        "error logged); default 3 days, 0 retries forever.",
        int,
        min=0,
        max=365 * DAY,
    ),
}


def defaults() -> dict[str, Any]:
    return {key: setting.default for key, setting in SETTINGS.items()}


def from_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """``KEYSTEAD_<KEY>`` variables for known keys, each read by its key's declared type (a
    value that is not one stops start-up, naming the variable); unknown ones are logged, not
    fatal, so a typo is visible in the log without taking the server down."""
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in BOOTSTRAP_VARIABLES:
            continue
        key = name[len(ENV_PREFIX) :]
        if key not in SETTINGS:
            log.warning("Ignoring unknown configuration variable %s", name)
            continue
        try:
            values[key] = SETTINGS[key].parse(key, raw)
        except ConfigError as error:
            raise ConfigError(f"{name}: {error}") from None
    return values


def finalise(config: dict[str, Any], instance_path: str) -> None:
    """Check every key against its declaration, then derive and check the values that depend
    on others, in place."""
    if isinstance(config.get("ALLOWED_ORIGINS"), str):
        config["ALLOWED_ORIGINS"] = [config["ALLOWED_ORIGINS"]]
    for key, setting in SETTINGS.items():
        problem = setting.problem(key, config[key])
        if problem:
            raise ConfigError(problem)
    if not config.get("SECRET_KEY"):
        if config["ENV"] != "development":
            raise ConfigError("SECRET_KEY is required outside development: set KEYSTEAD_SECRET_KEY")
        config["SECRET_KEY"] = _development_secret(Path(instance_path))
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(instance_path) / "keystead.db")
    origin = normalise_origin(config["ORIGIN"])
    config["ORIGIN"] = origin
    allowed = config.get("ALLOWED_ORIGINS") or [origin]
    config["ALLOWED_ORIGINS"] = [normalise_origin(o) for o in allowed]
    config["SESSION_COOKIE_SECURE"] = origin.startswith("https://")
    if config["SESSION_COOKIE_SECURE"]:
        # __Host- cookies are Secure, host-only and Path=/ by browser rule: a sibling subdomain
        # or a plain-http page cannot set or shadow them.
        for key in ("SESSION_COOKIE_NAME", "BROWSER_COOKIE_NAME"):
            if not config[key].startswith(HOST_COOKIE_PREFIX):
                config[key] = HOST_COOKIE_PREFIX + config[key]
    _finalise_mail(config)


def _finalise_mail(config: dict[str, Any]) -> None:
    config["MAIL_SERVER"] = config["MAIL_SERVER"] or None
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL exclude each other: choose one")
    # Flask-Mail keys we decide, not the operator: it would skip sending while TESTING (whether
    # mail is sent is MAIL_SERVER's job here), and print the SMTP dialogue, login included,
    # under --debug.
    config["MAIL_SUPPRESS_SEND"] = False
    config["MAIL_DEBUG"] = 0


def normalise_origin(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _development_secret(instance: Path) -> str:
    """A key generated once and kept in instance/, so development sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def markdown_table() -> str:
    """The README's configuration table."""
    rows = [
        "| Key (env `KEYSTEAD_<KEY>`) | Default | Values | Changes | What it does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, setting in SETTINGS.items():
        default = "—" if setting.default is None else f"`{json.dumps(setting.default)}`"
        changes = "while running (policy)" if setting.policy else "at start-up"
        rows.append(f"| `{key}` | {default} | {setting.values()} | {changes} | {setting.doc} |")
    return "\n".join(rows)
