"""The OpenAPI document of Keystead's HTTP API, written from the code: every ``/api`` route of
the app's URL map, the ``Endpoint`` each one is declared with (in its feature's
``schemas.py``), the pydantic models those name, and the error classes. Run
``python docs/openapi.py`` (``make docs``) to write ``static/openapi.json`` (served at
``GET /api/openapi.json``). Tests check that the written file is current, that every /api route
is declared, and validate real responses against the document.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from werkzeug.routing import Rule  # noqa: E402

from core.errors import (  # noqa: E402
    AppError,
    CsrfFailed,
    InvalidInput,
    MustWait,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from core.schemas import Answer, CredentialBody, Endpoint, Extended, app_endpoints  # noqa: E402

OUTPUT = ROOT / "static" / "openapi.json"
REF = "#/components/schemas/{model}"
METHODS = ("get", "post", "put", "patch", "delete")
# Only the app's routes, never its configuration, shape the document: any valid configuration.
APP_CONFIG = {
    "ENV": "production",
    "SECRET_KEY": "openapi-document",
    "SQLALCHEMY_DATABASE_URI": "sqlite://",
    "MAIL_WORKER": False,
}

DESCRIPTION = (
    "Passkey sign-in, devices and sessions. All bodies are JSON. Every state-changing request "
    "must carry an `Origin` header equal to an allowed origin (else 403 `csrf_failed`). Errors "
    'are `{"error": code, "message": text}` (`ErrorCode` lists every code). Options are W3C '
    'WebAuthn Level 3 JSON wrapped as `{"publicKey": {...}}`; browser responses are '
    "`credential.toJSON()` output. Sign-in state is a server-side session behind an HttpOnly, "
    "SameSite=Lax cookie; pending ceremonies are bound to the browser by a second opaque cookie. "
    "Websites that sign their users in with Keystead use its OpenID Connect provider, described "
    "by its own standard document: `GET /.well-known/openid-configuration` (discovery) names the "
    "authorization, token, userinfo, JWKS, revocation, introspection and end-session endpoints."
)

# What an endpoint may answer because of what it is, whatever its declaration says: the
# Origin check and the JSON-only rule (core/web.py), the body and query parsing
# (core/schemas.py), the per-IP rate limit (core/security.py), row ids in the URL.
STATE_CHANGING = (
    (CsrfFailed, "Origin header missing or not allowed"),
    (UnsupportedMediaType, "Body is not application/json"),
)
READS_BODY = (
    (InvalidInput, "Malformed input"),
    (PayloadTooLarge, "Body over MAX_CONTENT_LENGTH (64 KiB)"),
)
READS_QUERY = ((InvalidInput, "Malformed query"),)
RATE_LIMITED = (
    (
        RateLimited,
        "Too many requests from this IP; `Retry-After` says in how many seconds every exhausted "
        "limit has reset",
    ),
    (
        ServiceUnavailable,
        "The rate-limit store is unreachable and `RATELIMIT_FAIL_CLOSED` is set",
    ),
)
ROW_ID = ((NotFound, "No such id"),)


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schema without the titles it makes up from field names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def build(app: Flask) -> dict[str, Any]:
    endpoints = app_endpoints()
    routes = sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")),
        key=lambda rule: rule.rule,
    )
    undeclared = [rule.endpoint for rule in routes if rule.endpoint not in endpoints]
    if undeclared:
        raise LookupError(f"API routes without an Endpoint declaration: {undeclared}")
    models = _Models()
    paths: dict[str, dict[str, Any]] = {}
    for rule in routes:
        view = app.view_functions[rule.endpoint]
        endpoint = endpoints[rule.endpoint]
        item = paths.setdefault(_openapi_path(rule), {})
        for method in sorted(rule.methods or (), key=_method_order):
            if method.lower() in METHODS:
                item[method.lower()] = _operation(rule, method, view, endpoint, models)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Keystead API", "version": "0.1.0", "description": DESCRIPTION},
        "paths": paths,
        "components": {"schemas": _error_schemas()},
    }
    return models.write_into(document)


def render() -> str:
    from app import create_app

    app = create_app(APP_CONFIG)
    return json.dumps(build(app), indent=1) + "\n"


# ---- one operation -------------------------------------------------------------------------


def _method_order(method: str) -> int:
    return METHODS.index(method.lower()) if method.lower() in METHODS else len(METHODS)


def _openapi_path(rule: Rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)


def _operation(
    rule: Rule, method: str, view: Any, endpoint: Endpoint, models: _Models
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": rule.endpoint,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if _is_int(rule, name) else "string"},
        }
        # As they appear in the path (``rule.arguments`` is a set: its order varies by run).
        for name in sorted(rule.arguments, key=lambda name: _position(rule.rule, name))
    ]
    if endpoint.query is not None:
        parameters += _query_parameters(endpoint.query)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": models.body(endpoint.body)}},
        }
    raw_types = getattr(view, "raw_body_types", ())  # core.web.raw_body: an upload
    if raw_types:
        operation["requestBody"] = {
            "required": True,
            "content": {
                kind: {
                    "schema": {"type": "string"}
                    if kind.startswith("text/")
                    else {"type": "string", "format": "binary"}
                }
                for kind in raw_types
            },
        }
    responses: dict[str, Any] = {}
    for status, reply in sorted(endpoint.replies.items()):
        documented: dict[str, Any] = {"description": reply.description}
        if reply.model is not None:
            documented["description"] = reply.description or _first_line(reply.model)
            schema = models.answer(reply.model)
            documented["content"] = {"application/json": {"schema": schema}}
        responses[str(status)] = documented
    errors = _errors(rule, method, view, endpoint)
    for status in sorted(errors):
        responses[str(status)] = _error_response(errors[status])
    operation["responses"] = responses
    return operation


def _position(path: str, name: str) -> int:
    found = re.search(rf"[<:]{re.escape(name)}>", path)
    return found.start() if found else len(path)


def _is_int(rule: Rule, name: str) -> bool:
    return f"<int:{name}>" in rule.rule


def _query_parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    schema = query.model_json_schema(mode="validation", schema_generator=_Schemas)
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        field_schema = dict(field_schema)
        parameter = {"name": name, "in": "query", "required": name in schema.get("required", [])}
        if "description" in field_schema:
            parameter["description"] = field_schema.pop("description")
        parameters.append({**parameter, "schema": field_schema})
    return parameters


def _errors(
    rule: Rule, method: str, view: Any, endpoint: Endpoint
) -> dict[int, dict[type[AppError], str]]:
    """Status → error class → when, the declared notes winning over the implicit ones."""
    implicit: list[tuple[type[AppError], str]] = []
    if method not in ("GET", "HEAD", "OPTIONS"):
        implicit += STATE_CHANGING
    if endpoint.body is not None or getattr(view, "body_type", None) is not None:
        implicit += READS_BODY
    if endpoint.query is not None:
        implicit += READS_QUERY
    if getattr(view, "ceremony_rate_limited", False):
        implicit += RATE_LIMITED
    if any(_is_int(rule, name) for name in rule.arguments):
        implicit += ROW_ID
    notes = dict(implicit)
    for error, note in endpoint.error_notes.items():
        notes[error] = note or notes.get(error, "")
    by_status: dict[int, dict[type[AppError], str]] = {}
    for error, note in notes.items():
        by_status.setdefault(error.status, {})[error] = note
    return by_status


def _error_response(errors: dict[type[AppError], str]) -> dict[str, Any]:
    codes = sorted({error.code for error in errors})
    notes = [note or error.message.rstrip(".") for error, note in errors.items()]
    said = "; ".join(dict.fromkeys(notes))
    response: dict[str, Any] = {
        "description": said[:1].upper()
        + said[1:]
        + " (`error` is one of: "
        + ", ".join(f"`{code}`" for code in codes)
        + ")",
        "content": {
            "application/json": {
                "schema": {
                    "$ref": REF.format(model="Error"),
                    "properties": {"error": {"enum": codes}},
                }
            }
        },
    }
    if any(issubclass(error, MustWait) for error in errors):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until a new try can succeed",
                "schema": {"type": "integer"},
            }
        }
    return response


def _first_line(model: type[BaseModel] | Extended) -> str:
    if isinstance(model, Extended):
        model = model.base
    doc = (model.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ").rstrip(".") or model.__name__


# ---- the models ----------------------------------------------------------------------------


class _Models:
    """The models the operations name: a placeholder reference each, until ``write_into``
    writes their schemas into components/schemas (under their class names, an ``Out`` suffix
    dropped where no other model has the name) and points the references at them."""

    def __init__(self) -> None:
        self._used: dict[tuple[type[BaseModel], JsonSchemaMode], str] = {}

    def _ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        placeholder = self._used.setdefault((model, mode), f"(model {len(self._used)})")
        return {"$ref": placeholder}

    def body(self, model: type[BaseModel]) -> dict[str, Any]:
        if issubclass(model, CredentialBody):
            credential = self._ref(model.documents, "validation")
            if not model.model_fields:
                return credential
            return {"allOf": [credential, self._ref(model, "validation")]}
        return self._ref(model, "validation")

    def answer(self, model: type[Answer] | Extended) -> dict[str, Any]:
        if isinstance(model, Extended):
            parts = [model.base, *(extension.model for extension in model.extensions)]
            return {"allOf": [self._ref(part, "serialization") for part in parts]}
        return self._ref(model, "serialization")

    def write_into(self, document: dict[str, Any]) -> dict[str, Any]:
        refs, top = models_json_schema(
            list(self._used), ref_template=REF, schema_generator=_Schemas
        )
        schemas = top.get("$defs", {})
        names = {name: _public_name(name, schemas) for name in schemas}
        components = document["components"]["schemas"]
        components.update({names[name]: schema for name, schema in _clean(schemas).items()})
        document["components"]["schemas"] = dict(sorted(components.items()))
        text = json.dumps(document)
        for key, placeholder in self._used.items():
            text = text.replace(json.dumps(placeholder), json.dumps(refs[key]["$ref"]))
        for old, new in names.items():
            text = text.replace(
                json.dumps(REF.format(model=old)), json.dumps(REF.format(model=new))
            )
        return json.loads(text)  # type: ignore[no-any-return]


def _public_name(name: str, schemas: dict[str, Any]) -> str:
    short = name.removesuffix("Out")
    return short if short != name and short and short not in schemas else name


def _one_line(text: str) -> str:
    """A docstring's paragraphs, each on one line."""
    return "\n\n".join(" ".join(part.split()) for part in text.split("\n\n"))


def _clean(value: Any) -> Any:
    """Without pydantic's titles and ``additionalProperties: false`` (answers are composed
    with ``allOf``, which a closed object would refuse); descriptions on one line."""
    if isinstance(value, dict):
        return {
            key: _one_line(item) if key == "description" and isinstance(item, str) else _clean(item)
            for key, item in value.items()
            if not (key == "title" and isinstance(item, str))
            and not (key == "additionalProperties" and item is False)
        }
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


# ---- the errors ----------------------------------------------------------------------------


def _error_classes(root: type[AppError] = AppError) -> Iterator[type[AppError]]:
    """Every error class of the app, found by walking the tree (each feature owns its own)."""
    yield root
    for subclass in root.__subclasses__():
        yield from _error_classes(subclass)


def _error_schemas() -> dict[str, Any]:
    codes: dict[str, type[AppError]] = {}
    for error in _error_classes():
        if not error.__module__.startswith(("tests", "__main__")):
            codes.setdefault(error.code, error)
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"$ref": REF.format(model="ErrorCode")},
                "message": {"type": "string", "description": "Safe to show anyone"},
            },
        },
        "ErrorCode": {
            "type": "string",
            "description": "Every error code, with its HTTP status and default message",
            "oneOf": [
                {"const": code, "description": f"{error.status}: {error.message}"}
                for code, error in sorted(codes.items())
            ],
        },
    }


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
