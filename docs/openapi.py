"""The OpenAPI document of Keystead's HTTP API, as code: run ``python docs/openapi.py`` to write
``static/openapi.json`` (served at ``GET /api/openapi.json``). Tests check that the written file
is current, that every /api route is documented (and nothing else), and validate real
responses against the schemas here.
"""

import json
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "static" / "openapi.json"


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def err(desc, codes):
    return {
        "description": desc + " (`error` is one of: " + ", ".join(f"`{c}`" for c in codes) + ")",
        "content": {"application/json": {"schema": ref("Error")}},
    }


def ok(desc, schema):
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


COMMON = {
    "403": err("Origin header missing or not allowed", ["csrf_failed"]),
    "413": err("Body over 64 KiB", ["payload_too_large"]),
    "415": err("Body is not application/json", ["unsupported_media_type"]),
}
RATE = {
    "429": err(
        "Too many requests from this IP; `Retry-After` says in how many seconds every exhausted "
        "limit has reset",
        ["rate_limited"],
    ),
    "503": err(
        "The rate-limit store is unreachable and `RATELIMIT_FAIL_CLOSED` is set "
        "(`Retry-After` header)",
        ["unavailable"],
    ),
}
AUTH = {"401": err("Not signed in", ["not_signed_in"])}
INVALID = {"400": err("Malformed input", ["invalid_input"])}


def post(summary, req, responses, tags, desc=None, limited=False, signed=False):
    r = dict(responses)
    r.update(COMMON)
    if limited:
        r.update(RATE)
    if signed:
        r.update({k: v for k, v in AUTH.items() if k not in r})
    op = {"summary": summary, "tags": tags, "responses": r}
    if desc:
        op["description"] = desc
    if req is not None:
        op["requestBody"] = req
    return op


spec = {
    "openapi": "3.1.0",
    "info": {
        "title": "Keystead API",
        "version": "0.1.0",
        "description": 'Passkey sign-in, devices and sessions. All bodies are JSON. Every state-changing request must carry an `Origin` header equal to an allowed origin (else 403 `csrf_failed`). Errors are `{"error": code, "message": text}`. Options are W3C WebAuthn Level 3 JSON wrapped as `{"publicKey": {...}}`; browser responses are `credential.toJSON()` output. Sign-in state is a server-side session behind an HttpOnly, SameSite=Lax cookie; pending ceremonies are bound to the browser by a second opaque cookie.',
    },
    "paths": {
        "/api/register/begin": {
            "post": post(
                "Begin creating an ID (sign-up)",
                body(
                    {
                        "type": "object",
                        "required": ["username", "email"],
                        "properties": {
                            "username": {"type": "string", "pattern": "^[A-Za-z0-9._-]{3,64}$"},
                            "email": {"type": "string", "format": "email", "maxLength": 254},
                            "display_name": {"type": "string", "maxLength": 128},
                        },
                    }
                ),
                {
                    "200": ok("Creation options", ref("CreationOptions")),
                    **INVALID,
                    "409": err("Username taken (ignoring case)", ["username_taken"]),
                },
                ["sign-up"],
                limited=True,
            )
        },
        "/api/register/complete": {
            "post": post(
                "Finish creating an ID; signs the browser in",
                body(ref("RegistrationResponse")),
                {
                    "201": ok("The new ID and its first device", ref("SignedIn")),
                    "400": err(
                        "Malformed, or a response that fails a check",
                        ["invalid_input", "registration_failed"],
                    ),
                    "409": err("Username taken meanwhile", ["username_taken"]),
                },
                ["sign-up"],
                limited=True,
            )
        },
        "/api/authenticate/begin": {
            "post": post(
                "Begin signing in",
                body({"type": "object", "properties": {"username": {"type": "string"}}}),
                {"200": ok("Request options", ref("RequestOptions")), **INVALID},
                ["sign-in"],
                limited=True,
                desc="With `username`: username-first (allowCredentials lists the ID's active devices). Without: usernameless (empty allowCredentials, discoverable credentials, also used for autofill). An unknown username gets an answer of the same shape whose credential ids derive from a keyed hash of the username, stable across calls.",
            )
        },
        "/api/authenticate/complete": {
            "post": post(
                "Finish signing in",
                body(ref("AuthenticationResponse")),
                {
                    "200": ok("Signed in", ref("SignedIn")),
                    **INVALID,
                    "401": err("Any failed check", ["authentication_failed"]),
                },
                ["sign-in"],
                limited=True,
            )
        },
        "/api/logout": {
            "post": post(
                "Sign out (revokes this session)",
                body({"type": "object"}, required=False),
                {"204": {"description": "Signed out"}},
                ["sign-in"],
            )
        },
        "/api/me": {
            "get": {
                "summary": "The signed-in ID and its devices",
                "tags": ["account"],
                "responses": {
                    "200": ok(
                        "The ID",
                        {
                            "type": "object",
                            "required": ["user", "devices"],
                            "properties": {
                                "user": ref("User"),
                                "devices": {"type": "array", "items": ref("Device")},
                            },
                        },
                    ),
                    **AUTH,
                },
            }
        },
        "/api/devices": {
            "get": {
                "summary": "The ID's devices",
                "tags": ["devices"],
                "responses": {
                    "200": ok(
                        "Devices",
                        {
                            "type": "object",
                            "required": ["devices"],
                            "properties": {"devices": {"type": "array", "items": ref("Device")}},
                        },
                    ),
                    **AUTH,
                },
            }
        },
        "/api/devices/register/begin": {
            "post": post(
                "Begin adding a passkey or security key to the ID",
                body(
                    {
                        "type": "object",
                        "properties": {"device_name": {"type": "string", "maxLength": 64}},
                    }
                ),
                {
                    "200": ok(
                        "Creation options; excludeCredentials lists every device of the ID",
                        ref("CreationOptions"),
                    )
                },
                ["devices"],
                limited=True,
                signed=True,
            )
        },
        "/api/devices/register/complete": {
            "post": post(
                "Finish adding a device",
                body(ref("RegistrationResponse")),
                {
                    "201": ok(
                        "The new device",
                        {
                            "type": "object",
                            "required": ["device"],
                            "properties": {"device": ref("Device")},
                        },
                    ),
                    "400": err(
                        "Malformed, or a response that fails a check",
                        ["invalid_input", "registration_failed"],
                    ),
                },
                ["devices"],
                limited=True,
                signed=True,
            )
        },
        "/api/devices/{device_id}": {
            "parameters": [
                {"name": "device_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "patch": post(
                "Rename a device",
                body(
                    {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64}},
                    }
                ),
                {
                    "200": ok(
                        "Renamed",
                        {
                            "type": "object",
                            "required": ["device"],
                            "properties": {"device": ref("Device")},
                        },
                    ),
                    **INVALID,
                    "404": err("Not a device of this ID", ["not_found"]),
                },
                ["devices"],
                signed=True,
            ),
            "delete": {
                "summary": "Remove a device (ends its sessions)",
                "tags": ["devices"],
                "responses": {
                    "204": {"description": "Removed"},
                    **AUTH,
                    "403": COMMON["403"],
                    "404": err("Not a device of this ID", ["not_found"]),
                    "409": err("The last active device of the ID", ["last_device"]),
                },
            },
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["meta"],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "User": {
                "type": "object",
                "required": [
                    "id",
                    "username",
                    "email",
                    "display_name",
                    "email_verified",
                    "backup_email",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "username": {"type": "string"},
                    "email": {"type": "string"},
                    "display_name": {"type": "string"},
                    "email_verified": {
                        "type": "boolean",
                        "description": "The owner typed back a code mailed to `email`. Until then it gets verification mail only (notices stay in-app).",
                    },
                    "backup_email": {
                        "type": ["string", "null"],
                        "description": "The confirmed backup address mailed backup codes go to (BACKUP_CODE_DELIVERY=email), or null",
                    },
                },
            },
            "Device": {
                "type": "object",
                "required": [
                    "id",
                    "name",
                    "created_at",
                    "last_used_at",
                    "status",
                    "aaguid",
                    "authenticator",
                    "backup_eligible",
                    "backed_up",
                    "flagged",
                    "current",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "last_used_at": {"type": ["string", "null"], "format": "date-time"},
                    "status": {
                        "type": "string",
                        "enum": ["active", "blocked", "pending"],
                        "description": "pending: paired by QR code, waiting for approval",
                    },
                    "credential_id": {"type": "string", "description": "base64url"},
                    "blocked_at": {"type": ["string", "null"], "format": "date-time"},
                    "aaguid": {
                        "type": ["string", "null"],
                        "description": "Authenticator model id; null when the authenticator sends none (all zeros)",
                    },
                    "authenticator": {
                        "type": ["string", "null"],
                        "description": "Model name for well-known AAGUIDs",
                    },
                    "backup_eligible": {
                        "type": "boolean",
                        "description": "BE flag: the passkey can be synced",
                    },
                    "backed_up": {
                        "type": "boolean",
                        "description": "BS flag: the passkey is synced",
                    },
                    "flagged": {
                        "type": "boolean",
                        "description": "A sign-in showed a sign counter that did not increase: possible clone",
                    },
                    "current": {
                        "type": "boolean",
                        "description": "The device this session signed in with",
                    },
                },
            },
            "SignedIn": {
                "type": "object",
                "required": ["user", "device"],
                "properties": {"user": ref("User"), "device": ref("Device")},
            },
            "CreationOptions": {
                "type": "object",
                "required": ["publicKey"],
                "properties": {
                    "publicKey": {
                        "type": "object",
                        "required": ["rp", "user", "challenge", "pubKeyCredParams"],
                        "description": "PublicKeyCredentialCreationOptionsJSON (WebAuthn L3)",
                    }
                },
            },
            "RequestOptions": {
                "type": "object",
                "required": ["publicKey"],
                "properties": {
                    "publicKey": {
                        "type": "object",
                        "required": ["challenge"],
                        "description": "PublicKeyCredentialRequestOptionsJSON (WebAuthn L3)",
                    }
                },
            },
            "RegistrationResponse": {
                "type": "object",
                "required": ["id", "rawId", "type", "response"],
                "description": "RegistrationResponseJSON (credential.toJSON()), plus optional `device_name`",
                "properties": {
                    "id": {"type": "string"},
                    "rawId": {"type": "string"},
                    "type": {"const": "public-key"},
                    "response": {
                        "type": "object",
                        "required": ["clientDataJSON", "attestationObject"],
                    },
                    "device_name": {"type": "string", "maxLength": 64},
                },
            },
            "AuthenticationResponse": {
                "type": "object",
                "required": ["id", "rawId", "type", "response"],
                "description": "AuthenticationResponseJSON (credential.toJSON())",
                "properties": {
                    "id": {"type": "string"},
                    "rawId": {"type": "string"},
                    "type": {"const": "public-key"},
                    "response": {
                        "type": "object",
                        "required": ["clientDataJSON", "authenticatorData", "signature"],
                    },
                },
            },
        }
    },
}

P = spec["paths"]
S = spec["components"]["schemas"]
S["OtpSent"] = {
    "type": "object",
    "required": ["otp_sent_to"],
    "properties": {
        "otp_sent_to": {
            "type": "string",
            "description": "The ID's address, masked (j***@example.com)",
        }
    },
}
S["BackupStatus"] = {
    "type": "object",
    "required": ["active", "activated_at", "prompt", "mode"],
    "properties": {
        "active": {"type": "boolean"},
        "activated_at": {"type": ["string", "null"], "format": "date-time"},
        "prompt": {
            "type": "boolean",
            "description": "The user should be asked to activate backup now",
        },
        "mode": {"type": "string", "enum": ["optional", "on_enrollment", "disabled"]},
        "delivery": {"type": "string", "enum": ["display", "email"]},
    },
}
S["NewBackupCode"] = {
    "type": "object",
    "description": "`backup_code` is shown once; under BACKUP_CODE_DELIVERY=email it is mailed instead (`delivered: email`)",
    "properties": {
        "backup_code": {"type": ["string", "null"], "pattern": "^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$"},
        "delivered": {"const": "email"},
    },
}
S["SignedIn"]["properties"]["backup_prompt"] = {
    "type": "boolean",
    "description": "Sign-in only: prompt the user to activate backup",
}
S["SignedIn"]["properties"]["backup_required"] = {
    "type": "boolean",
    "description": "Sign-up only: policy on_enrollment, activate backup now",
}
OTP_BODY = body({"type": "object", "required": ["otp"], "properties": {"otp": {"type": "string"}}})
TOO_MANY = {
    "429": err(
        "Too many failed attempts for this ID or IP (Retry-After header), or the per-IP rate limit",
        ["too_many_attempts", "rate_limited"],
    )
}
DISABLED = {
    "403": err(
        "Backup disabled by policy, or Origin not allowed", ["backup_disabled", "csrf_failed"]
    )
}


def with_disabled(op):
    op["responses"].update(DISABLED)
    return op


P["/api/backup"] = {
    "get": {
        "summary": "Backup status of the signed-in ID",
        "tags": ["backup"],
        "responses": {"200": ok("Status", ref("BackupStatus")), **AUTH},
    }
}
P["/api/backup/activate"] = {
    "post": with_disabled(
        post(
            "Activate backup: mails a one-time code to verify the address",
            body({"type": "object"}, required=False),
            {
                "202": ok("Code mailed", ref("OtpSent")),
                "409": err("Backup already active", ["backup_active"]),
                **TOO_MANY,
            },
            ["backup"],
            limited=True,
            signed=True,
        )
    )
}
P["/api/backup/regenerate"] = {
    "post": with_disabled(
        post(
            "Make a new backup code: needs a passkey sign-in within REAUTH_MAX_AGE; mails a one-time code",
            body({"type": "object"}, required=False),
            {
                "202": ok("Code mailed", ref("OtpSent")),
                "401": err(
                    "Not signed in, or the sign-in is not fresh",
                    ["not_signed_in", "reauth_required"],
                ),
                **TOO_MANY,
            },
            ["backup"],
            limited=True,
        )
    )
}
P["/api/backup/confirm"] = {
    "post": with_disabled(
        post(
            "Confirm the mailed code; answers the new backup code once",
            OTP_BODY,
            {
                "200": ok("The backup code (or: it was mailed)", ref("NewBackupCode")),
                **INVALID,
                "401": err(
                    "Wrong, used, expired or superseded code; not signed in; stale sign-in for a regeneration",
                    ["invalid_code", "not_signed_in", "reauth_required"],
                ),
                **TOO_MANY,
            },
            ["backup"],
            limited=True,
        )
    )
}
P["/api/recovery/begin"] = {
    "post": with_disabled(
        post(
            "Recovery step 1: username and backup code; mails a one-time code",
            body(
                {
                    "type": "object",
                    "required": ["username", "backup_code"],
                    "properties": {
                        "username": {"type": "string"},
                        "backup_code": {"type": "string"},
                    },
                }
            ),
            {
                "202": ok("Code mailed to the ID's address", ref("OtpSent")),
                **INVALID,
                "401": err(
                    "Unknown username or wrong backup code (the same answer for both)",
                    ["recovery_failed"],
                ),
                **TOO_MANY,
            },
            ["recovery"],
            limited=True,
        )
    )
}
P["/api/recovery/verify"] = {
    "post": with_disabled(
        post(
            "Recovery step 2: the mailed code; answers creation options for the new device",
            OTP_BODY,
            {
                "200": ok(
                    "Creation options; `restore_forced` when policy removes the other devices",
                    {
                        "allOf": [
                            ref("CreationOptions"),
                            {
                                "type": "object",
                                "properties": {"restore_forced": {"type": "boolean"}},
                            },
                        ]
                    },
                ),
                **INVALID,
                "401": err(
                    "No recovery begun in this browser, or a wrong, used, expired or superseded code (5 wrong tries void the recovery)",
                    ["recovery_failed"],
                ),
                **TOO_MANY,
            },
            ["recovery"],
            limited=True,
        )
    )
}
P["/api/recovery/options"] = {
    "post": with_disabled(
        post(
            "Fresh creation options for a verified recovery (after a cancelled browser dialog)",
            body({"type": "object"}, required=False),
            {
                "200": ok("Creation options", ref("CreationOptions")),
                "401": err("No verified recovery in this browser", ["recovery_failed"]),
            },
            ["recovery"],
            limited=True,
        )
    )
}
P["/api/recovery/complete"] = {
    "post": with_disabled(
        post(
            "Recovery step 3: the new passkey; signs in. Restore removes the other devices and ends their sessions; duplicate keeps them",
            body(
                {
                    "allOf": [
                        ref("RegistrationResponse"),
                        {
                            "type": "object",
                            "required": ["mode"],
                            "properties": {"mode": {"enum": ["restore", "duplicate"]}},
                        },
                    ]
                }
            ),
            {
                "201": ok(
                    "Recovered: the old backup code is void; the new one is shown once",
                    {
                        "allOf": [
                            ref("SignedIn"),
                            ref("NewBackupCode"),
                            {
                                "type": "object",
                                "required": ["mode"],
                                "properties": {"mode": {"enum": ["restore", "duplicate"]}},
                            },
                        ]
                    },
                ),
                "400": err(
                    "Malformed, or a response that fails a check",
                    ["invalid_input", "registration_failed"],
                ),
                "401": err("No verified recovery in this browser", ["recovery_failed"]),
            },
            ["recovery"],
            limited=True,
        )
    )
}

# ---- every device is told: step-up, blocking, notifications, activity, QR pairing ----------

S["Device"]["required"] += ["credential_id", "blocked_at"]
S["Notification"] = {
    "type": "object",
    "required": ["id", "kind", "created_at", "read", "device", "ip", "user_agent"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {
            "enum": [
                "device_added",
                "device_restored",
                "device_duplicated",
                "device_paired",
                "device_blocked",
                "device_removed",
                "device_flagged",
                "new_device_sign_in",
            ]
        },
        "created_at": {"type": "string", "format": "date-time"},
        "read": {"type": "boolean"},
        "device": {
            "type": "object",
            "required": ["id", "name", "status"],
            "description": "The device the notification is about; status is its status now",
            "properties": {
                "id": {"type": ["integer", "null"]},
                "name": {"type": "string"},
                "authenticator": {"type": ["string", "null"]},
                "status": {"enum": ["active", "blocked", "pending", "gone"]},
            },
        },
        "ip": {"type": "string"},
        "user_agent": {"type": "string"},
    },
}
S["SignedIn"]["properties"]["notifications"] = {
    "type": "array",
    "items": ref("Notification"),
    "description": "Sign-in only: this device's unread notifications",
}
P["/api/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"][
    "signal"
] = {
    "type": "object",
    "description": "Arguments for PublicKeyCredential.signalAllAcceptedCredentials",
    "properties": {
        "rpId": {"type": "string"},
        "userId": {"type": "string"},
        "allAcceptedCredentialIds": {"type": "array", "items": {"type": "string"}},
    },
}
FRESH = {
    "401": err(
        "Not signed in, or no user verification in this session within REAUTH_MAX_AGE",
        ["not_signed_in", "reauth_required"],
    )
}
P["/api/reauth/begin"] = {
    "post": post(
        "Begin a step-up: request options (UV required) for this ID's active devices",
        body({"type": "object"}, required=False),
        {"200": ok("Request options", ref("RequestOptions"))},
        ["devices"],
        limited=True,
        signed=True,
    )
}
P["/api/reauth/complete"] = {
    "post": post(
        "Finish a step-up: the session counts as freshly verified",
        body(ref("AuthenticationResponse")),
        {
            "204": {"description": "Verified"},
            **INVALID,
            "401": err(
                "A failed check, or not signed in", ["authentication_failed", "not_signed_in"]
            ),
        },
        ["devices"],
        limited=True,
    )
}
P["/api/devices/{device_id}"]["delete"]["responses"].update(FRESH)
P["/api/devices/{device_id}"]["delete"]["summary"] = (
    "Unpair a device (ends its sessions; needs a fresh user verification)"
)
P["/api/devices/{device_id}/block"] = {
    "parameters": [
        {"name": "device_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ],
    "post": post(
        "Block a device at once and for good (needs a fresh user verification)",
        body({"type": "object"}, required=False),
        {
            "200": ok(
                "Blocked",
                {"type": "object", "required": ["device"], "properties": {"device": ref("Device")}},
            ),
            **FRESH,
            "404": err("Not a device of this ID", ["not_found"]),
        },
        ["devices"],
    ),
}
# ---- the account panel: sessions, display name, deleting the ID ----------------------------
S["Session"] = {
    "type": "object",
    "required": ["id", "device", "browser", "ip", "created_at", "last_seen_at", "current"],
    "properties": {
        "id": {"type": "integer"},
        "device": {
            "type": ["string", "null"],
            "description": "Name of the device that signed in (null if it is gone)",
        },
        "browser": {
            "type": ["string", "null"],
            "description": "A short label from the user agent, e.g. `Chrome on Linux`",
        },
        "ip": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "last_seen_at": {"type": "string", "format": "date-time"},
        "current": {"type": "boolean", "description": "The session of this request"},
    },
}
P["/api/sessions"] = {
    "get": {
        "summary": "The ID's signed-in sessions (not ended, expired or idle), latest activity first",
        "tags": ["account"],
        "responses": {
            "200": ok(
                "Sessions",
                {
                    "type": "object",
                    "required": ["sessions"],
                    "properties": {"sessions": {"type": "array", "items": ref("Session")}},
                },
            ),
            **AUTH,
        },
    }
}
P["/api/sessions/end-others"] = {
    "post": post(
        "End every session of the ID but this one (needs a fresh user verification)",
        body({"type": "object"}, required=False),
        {
            "200": ok(
                "How many sessions were ended",
                {
                    "type": "object",
                    "required": ["ended"],
                    "properties": {"ended": {"type": "integer", "minimum": 0}},
                },
            ),
            **FRESH,
        },
        ["account"],
    )
}
P["/api/sessions/{session_id}"] = {
    "parameters": [
        {"name": "session_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ],
    "delete": {
        "summary": "End one of the ID's sessions (needs a fresh user verification)",
        "description": "Ending this request's own session signs this browser out (the cookie is cleared). Audited.",
        "tags": ["account"],
        "responses": {
            "204": {"description": "Ended"},
            **FRESH,
            "403": COMMON["403"],
            "404": err(
                "Unknown, already ended, or another ID's session (indistinguishable)",
                ["not_found"],
            ),
        },
    },
}
P["/api/me"]["patch"] = post(
    "Change the display name (audited; no fresh verification: it changes nothing that signs in)",
    body(
        {
            "type": "object",
            "required": ["display_name"],
            "properties": {
                "display_name": {
                    "type": "string",
                    "maxLength": 128,
                    "description": "One line; empty means the username",
                }
            },
        }
    ),
    {
        "200": ok(
            "The ID", {"type": "object", "required": ["user"], "properties": {"user": ref("User")}}
        ),
        **INVALID,
    },
    ["account"],
    signed=True,
)
P["/api/me"]["delete"] = {
    "summary": "Delete the ID (needs a fresh user verification and the username typed exactly)",
    "description": "Every session ends (the cookie is cleared), every device is removed, backup and recovery data are deleted, a verified address is told by mail, and the username is free again. The audit trail is kept without IPs, user agents, names or addresses.",
    "tags": ["account"],
    "requestBody": body(
        {
            "type": "object",
            "required": ["confirm"],
            "properties": {
                "confirm": {"type": "string", "description": "The username, exactly (case too)"}
            },
        }
    ),
    "responses": {
        "204": {"description": "Deleted"},
        "400": err("`confirm` missing or not the username", ["invalid_input"]),
        **FRESH,
        **COMMON,
    },
}
P["/api/notifications"] = {
    "get": {
        "summary": "This device's notifications, newest first (the live view polls this)",
        "description": "Live view contract: poll with `?since=<highest id seen>` every `poll_interval` seconds. The database is the source, so any worker answers the same.",
        "tags": ["notifications"],
        "parameters": [
            {"name": "since", "in": "query", "required": False, "schema": {"type": "integer"}}
        ],
        "responses": {
            "200": ok(
                "Notifications",
                {
                    "type": "object",
                    "required": ["notifications", "unread", "poll_interval"],
                    "properties": {
                        "notifications": {"type": "array", "items": ref("Notification")},
                        "unread": {
                            "type": "integer",
                            "description": "All unread of this device, not only those in this answer",
                        },
                        "poll_interval": {"type": "integer"},
                    },
                },
            ),
            **INVALID,
            **AUTH,
        },
    }
}
P["/api/notifications/{notification_id}/read"] = {
    "parameters": [
        {"name": "notification_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ],
    "post": post(
        "Mark a notification read",
        body({"type": "object"}, required=False),
        {"204": {"description": "Read"}, "404": err("Not this device's", ["not_found"])},
        ["notifications"],
        signed=True,
    ),
}
P["/api/notifications/read"] = {
    "post": post(
        "Mark all of this device's notifications read",
        body({"type": "object"}, required=False),
        {"204": {"description": "Read"}},
        ["notifications"],
        signed=True,
    )
}
P["/api/activity"] = {
    "get": {
        "summary": "The ID's audit trail, newest first",
        "tags": ["notifications"],
        "responses": {
            "200": ok(
                "Events",
                {
                    "type": "object",
                    "required": ["events"],
                    "properties": {
                        "events": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "kind", "created_at", "ip", "user_agent"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "kind": {"type": "string"},
                                    "created_at": {"type": "string", "format": "date-time"},
                                    "device_id": {"type": ["integer", "null"]},
                                    "device_name": {"type": ["string", "null"]},
                                    "ip": {"type": "string"},
                                    "user_agent": {"type": "string"},
                                    "details": {"type": "object"},
                                },
                            },
                        }
                    },
                },
            ),
            **AUTH,
        },
    }
}
TOKEN = [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}]
GONE = {"404": err("Unknown, expired or used pairing, or not yours", ["not_found"])}
S["PairingStatus"] = {
    "type": "object",
    "required": ["status", "device", "confirmation"],
    "properties": {
        "status": {"enum": ["waiting", "awaiting_approval", "approved", "rejected", "expired"]},
        "device": {"oneOf": [ref("Device"), {"type": "null"}]},
        "confirmation": {
            "type": ["string", "null"],
            "pattern": "^[0-9]{2}$",
            "description": "The 2-digit number, for the redeeming browser only (null for the "
            "ID's sessions: the approving device types what the new device shows)",
        },
        "expires_at": {"type": "string", "format": "date-time"},
    },
}
P["/api/pairing"] = {
    "post": post(
        "Start pairing a new device by QR code (needs a fresh user verification)",
        body({"type": "object"}, required=False),
        {
            "201": ok(
                "The pairing URL and its QR code",
                {
                    "type": "object",
                    "required": ["token", "url", "qr_svg", "expires_at"],
                    "properties": {
                        "token": {"type": "string"},
                        "url": {"type": "string"},
                        "qr_svg": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
            ),
            **FRESH,
            "429": err(
                "3 pairings already pending, or the rate limit",
                ["too_many_pairings", "rate_limited"],
            ),
        },
        ["pairing"],
        limited=True,
    )
}
P["/api/pairing/{token}"] = {
    "parameters": TOKEN,
    "get": {
        "summary": "A pairing's state, for the ID's sessions and the redeeming browser only; the redeeming browser receives its session cookie with `approved`",
        "tags": ["pairing"],
        "responses": {"200": ok("State", ref("PairingStatus")), **GONE},
    },
}
P["/api/pairing/{token}/begin"] = {
    "parameters": TOKEN,
    "post": post(
        "The new device: begin (the first browser owns the pairing); answers creation options and the confirmation number",
        body(
            {"type": "object", "properties": {"device_name": {"type": "string", "maxLength": 64}}}
        ),
        {
            "200": ok(
                "Options",
                {
                    "allOf": [
                        ref("CreationOptions"),
                        {
                            "type": "object",
                            "required": ["confirmation"],
                            "properties": {"confirmation": {"type": "string"}},
                        },
                    ]
                },
            ),
            **INVALID,
            **GONE,
        },
        ["pairing"],
        limited=True,
    ),
}
P["/api/pairing/{token}/complete"] = {
    "parameters": TOKEN,
    "post": post(
        "The new device: its passkey, stored pending until approved",
        body(ref("RegistrationResponse")),
        {
            "202": ok(
                "Waiting for approval",
                {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"const": "awaiting_approval"}},
                },
            ),
            "400": err(
                "Malformed, or a response that fails a check",
                ["invalid_input", "registration_failed"],
            ),
            **GONE,
        },
        ["pairing"],
        limited=True,
    ),
}
APPROVE_BODY = {
    "type": "object",
    "required": ["confirmation"],
    "properties": {
        "confirmation": {
            "type": "string",
            "description": "The 2-digit number the new device shows, as typed on this one",
        }
    },
}
for action, summary, needs_fresh in (
    (
        "approve",
        "Approve the new device (needs a fresh user verification and the number it shows; "
        "3 wrong numbers reject it)",
        True,
    ),
    (
        "reject",
        "Reject the new device (its passkey is deleted), or cancel a pairing nobody redeemed yet",
        False,
    ),
):
    responses = {
        "200": ok(
            "Decided",
            {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"enum": ["approved", "rejected"]},
                    "device": ref("Device"),
                },
            },
        ),
        **GONE,
    }
    responses.update(FRESH if needs_fresh else AUTH)
    request_body = body({"type": "object"}, required=False)
    if action == "approve":
        request_body = body(APPROVE_BODY)
        responses["400"] = err(
            "No or a malformed number, or the wrong number (nothing changes; counted)",
            ["invalid_input", "wrong_confirmation"],
        )
        responses["409"] = err(
            "The 3rd wrong number: the pairing is rejected and its pending passkey deleted",
            ["pairing_rejected"],
        )
    P[f"/api/pairing/{{token}}/{action}"] = {
        "parameters": TOKEN,
        "post": post(summary, request_body, responses, ["pairing"]),
    }


MAIL_CAP = {
    "429": err(
        "A code of this kind went to this address less than MAIL_CODE_COOLDOWN seconds ago, or MAIL_CODES_PER_HOUR codes went to it (or for this ID) in the last hour; `Retry-After` says when the cap frees. Also: too many failed attempts, or the per-IP rate limit",
        ["too_many_mails", "too_many_attempts", "rate_limited"],
    )
}
TOO_MANY_MAILED = {
    "429": err(
        "Too many failed attempts (Retry-After), the mail cap (`too_many_mails`, Retry-After: MAIL_CODE_COOLDOWN, MAIL_CODES_PER_HOUR), or the per-IP rate limit",
        ["too_many_attempts", "too_many_mails", "rate_limited"],
    )
}
for _path in ("/api/backup/activate", "/api/backup/regenerate"):
    P[_path]["post"]["responses"].update(TOO_MANY_MAILED)
    P[_path]["post"]["responses"]["409"] = err(
        "Backup already active (activate), or BACKUP_CODE_DELIVERY=email and no confirmed backup address",
        ["backup_active", "backup_email_required"],
    )
P["/api/backup/confirm"]["post"]["responses"]["409"] = err(
    "BACKUP_CODE_DELIVERY=email and no confirmed backup address (nothing changed)",
    ["backup_email_required"],
)
EMAIL_BODY = body(
    {
        "type": "object",
        "required": ["email"],
        "properties": {"email": {"type": "string", "format": "email", "maxLength": 254}},
    }
)
USER_ANSWER = {"type": "object", "required": ["user"], "properties": {"user": ref("User")}}
P["/api/me/email/verify"] = {
    "post": post(
        "Mail a new code to confirm the ID's address",
        body({"type": "object"}, required=False),
        {
            "202": ok("Code mailed", ref("OtpSent")),
            "409": err("The address is already confirmed", ["email_verified"]),
            **MAIL_CAP,
        },
        ["account"],
        limited=True,
        signed=True,
        desc="Sign-up mails the first code. A code works once, in the browser that asked for it, for OTP_TTL seconds; a new one voids the previous (and a pending address change).",
    )
}
P["/api/me/email"] = {
    "post": post(
        "Change the ID's address: mails a code to the new address",
        EMAIL_BODY,
        {
            "202": ok("Code mailed to the new address", ref("OtpSent")),
            "400": err(
                "Not a valid address (email-validator, no DNS), the current address, or the backup address",
                ["invalid_input"],
            ),
            **FRESH,
            **MAIL_CAP,
        },
        ["account"],
        limited=True,
        desc="Needs a user verification within REAUTH_MAX_AGE (401 `reauth_required`: step up and retry). Nothing changes until the code is confirmed at `/api/me/email/confirm`. Two IDs may share an address.",
    )
}
P["/api/me/email/confirm"] = {
    "post": post(
        "Confirm the mailed code: confirms the address, or switches to the new one",
        OTP_BODY,
        {
            "200": ok("The ID, with its (new) address confirmed", USER_ANSWER),
            **INVALID,
            "401": err(
                "Wrong, used, expired, superseded or another browser's code (five wrong tries void it); not signed in; a change with a stale verification",
                ["invalid_code", "not_signed_in", "reauth_required"],
            ),
            **TOO_MANY,
        },
        ["account"],
        limited=True,
        desc="The address set is the one the code was mailed to. On a change, every device of the ID gets a notification, the old address (if it was confirmed) a mail, and the audit trail an `email_changed` event. A backup-activation code confirms the address too.",
    )
}
P["/api/me/backup-email"] = {
    "post": post(
        "Add or replace the backup address: mails a code to it",
        EMAIL_BODY,
        {
            "202": ok("Code mailed to the backup address", ref("OtpSent")),
            "400": err(
                "Not a valid address, or the sign-in address (one mailbox must not hold both recovery factors)",
                ["invalid_input"],
            ),
            **FRESH,
            **MAIL_CAP,
        },
        ["account"],
        limited=True,
        desc="Under BACKUP_CODE_DELIVERY=email a backup code is mailed only to this address, once confirmed. Needs a user verification within REAUTH_MAX_AGE.",
    )
}
P["/api/me/backup-email/confirm"] = {
    "post": post(
        "Confirm the code mailed to the backup address",
        OTP_BODY,
        {
            "200": ok("The ID, with `backup_email` set", USER_ANSWER),
            **INVALID,
            "401": err(
                "Wrong, used, expired or another browser's code; not signed in; stale verification",
                ["invalid_code", "not_signed_in", "reauth_required"],
            ),
            **TOO_MANY,
        },
        ["account"],
        limited=True,
    )
}

P["/api/recovery/begin"]["post"]["responses"].update(TOO_MANY_MAILED)


def render() -> str:
    return json.dumps(spec, indent=1) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
