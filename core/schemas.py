"""The HTTP edge's declarations, shared by every feature's ``schemas.py``.

- Base models: ``Body`` (a request's JSON object), ``CredentialBody`` (one that carries a
  WebAuthn credential), ``Query`` (a query string) and ``Answer`` (a JSON answer).
- ``parse_body`` / ``parse_query`` read the request into a model; ``invalid_input`` is the one
  place where input that does not fit becomes 400 ``invalid_input``, with a message naming the
  field. ``answer`` turns an ``Answer`` into the response.
- ``Endpoint`` and ``document``: what each API view takes and answers, and which errors it
  may end with. docs/openapi.py writes the OpenAPI document from these declarations and the
  app's URL map; ``parse_body`` refuses to read a model other than the one declared, so the
  document cannot drift from what the view reads.

Bodies are strict: a string must be a JSON string, a required field must be there (``null``
counts as missing), keys nobody reads are ignored, as they always were. The rules a value
follows (a username's pattern and lengths…) are declared once where the domain checks them
(``core.users``, ``webauthn.devices``…); a field carries them with ``Checked``, so the edge runs
that very check and the document shows those very numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, TypeVar

from flask import Response, jsonify, request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from core.errors import AppError, InvalidInput, NotSignedIn, ReauthRequired
from core.models import User
from core.users import TextRule
from core.web import json_body

M = TypeVar("M", bound=BaseModel)

# ---- base models ---------------------------------------------------------------------------


class Body(BaseModel):
    """A request's JSON object."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class NoFields(Body):
    """A JSON object, ``{}``: nothing in it is read, but a body must be JSON."""


class CredentialBody(Body):
    """A body that is a WebAuthn credential (``credential.toJSON()``) plus, maybe, fields of
    ours (``device_name``). The credential is checked by webauthn/ceremony.py's strict parser,
    never by pydantic: ``credential`` is the body as sent, for it. ``documents`` is the model
    that describes the credential's shape in the document."""

    documents: ClassVar[type[BaseModel]]
    _credential: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def credential(self) -> dict[str, Any]:
        return self._credential


class Query(BaseModel):
    """A query string: every value arrives as text (lax: ``?since=5`` is the number 5)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Answer(BaseModel):
    """A JSON answer, built by the view from what the service returned. A key not declared
    is an error (a 500 in tests), so an answer cannot grow past its document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON value: what ``answer`` sends, and what a page's template gets."""
        return self.model_dump(mode="json")


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


# A moment in an answer, as ``datetime.isoformat()`` writes it (``…+00:00``, as it always was).
Timestamp = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def omitted_if_none(**kwargs: Any) -> Any:
    """A field left out of the JSON when it is None (an answer that has the key only
    sometimes)."""
    return Field(default=None, exclude_if=lambda value: value is None, **kwargs)


# ---- rules on fields -----------------------------------------------------------------------


def rule_error(message: str) -> PydanticCustomError:
    """A refused value whose answer is ``message`` as it is (see ``invalid_input``)."""
    return PydanticCustomError("rule", "{message}", {"message": message})


@dataclass(frozen=True)
class Checked:
    """Field metadata: the value must pass ``check``, a domain function that raises
    ``InvalidInput`` (``core.users.normalise_username``…), whose message becomes the answer's;
    the document shows ``rule`` (lengths, pattern) and ``format``. The value goes on as sent:
    the service normalises it (and checks it again, for callers that are not HTTP)."""

    check: Callable[[Any], object]
    rule: TextRule | None = None
    format: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._run, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if self.rule is not None:
            json_schema.update(self.rule.json_schema())
        if self.format is not None:
            json_schema["format"] = self.format
        return json_schema

    def _run(self, value: Any) -> Any:
        try:
            self.check(value)
        except InvalidInput as error:
            raise rule_error(error.message) from None
        return value


# ---- reading a request ---------------------------------------------------------------------

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "list_type": "a list",
}


def invalid_input(error: ValidationError) -> InvalidInput:
    """The one translation of a model's refusal: 400 ``invalid_input`` naming the (first)
    field. The value is never logged (it may be a code someone typed)."""
    first = error.errors(include_url=False)[0]
    name = ".".join(str(part) for part in first["loc"]) or "body"
    kind = first["type"]
    if kind == "rule":
        message = first["msg"]
    elif kind == "missing" or (kind in _TYPE_NAMES and first["input"] is None):
        message = f"'{name}' is required."
    elif kind in _TYPE_NAMES:
        message = f"'{name}' must be {_TYPE_NAMES[kind]}."
    else:
        message = f"'{name}': {first['msg']}."
    return InvalidInput(message, detail=f"{name}: {kind}")


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None


def parse_body(model: type[M]) -> M:
    """The request's JSON object as ``model``: 415 for another content type, 400
    ``invalid_input`` for malformed JSON or a field that does not fit."""
    _require_declared(model, "body")
    data = json_body()
    body = validate(model, data)
    if isinstance(body, CredentialBody):
        body._credential = data
    return body


def parse_query(model: type[M]) -> M:
    """The query string as ``model`` (the first value of a repeated key); 400
    ``invalid_input`` for a value that does not fit."""
    _require_declared(model, "query")
    return validate(model, request.args.to_dict())


def _require_declared(model: type[BaseModel], part: str) -> None:
    """A view reads exactly what its ``Endpoint`` declares (a programming error otherwise)."""
    endpoint = declared(request.endpoint)
    if endpoint is not None and getattr(endpoint, part) is not model:
        raise RuntimeError(
            f"{request.endpoint} reads a {model.__name__} {part} but its Endpoint declares "
            f"{getattr(endpoint, part)!r}"
        )


def answer(model: Answer, status: int = 200) -> Response:
    response = jsonify(model.to_json())
    response.status_code = status
    return response


# ---- what every feature's answers share ----------------------------------------------------


class UserOut(Answer):
    """An ID, as its owner sees it."""

    id: int
    username: str
    email: str
    display_name: str
    email_verified: bool = Field(
        description="The owner typed back a code mailed to `email`. Until then it gets "
        "verification mail only (notices stay in-app)."
    )
    backup_email: str | None = Field(
        description="The confirmed backup address mailed backup codes go to "
        "(BACKUP_CODE_DELIVERY=email), or null"
    )

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            email_verified=user.email_verified_at is not None,
            backup_email=user.backup_email if user.backup_email_verified_at else None,
        )


class UserAnswer(Answer):
    """The ID."""

    user: UserOut


# ---- declarations for the document ---------------------------------------------------------


@dataclass(frozen=True)
class Extension:
    """Keys a feature above adds to another feature's answer (recovery's ``backup_prompt`` to
    the sign-in answer…) without that feature importing it: ``model`` declares them (for the
    document), ``build`` makes them for one answer."""

    model: type[Answer]
    build: Callable[..., Answer]


@dataclass(frozen=True)
class Extended:
    """An answer that ``extensions`` (registered at start-up) add keys to: documented as all
    of ``base`` and each extension's model."""

    base: type[Answer]
    extensions: Sequence[Extension]


@dataclass(frozen=True)
class Reply:
    """One documented answer: its model (None: no body) and what it means."""

    model: type[Answer] | Extended | None
    description: str = ""


ReplySpec = type[Answer] | Extended | str | tuple[type[Answer] | Extended, str]
ErrorSpec = type[AppError] | tuple[type[AppError], str]

# What most signed-in endpoints may answer: not signed in, or (for what changes how the ID
# signs in) no user verification within REAUTH_MAX_AGE.
SIGNED_IN: tuple[ErrorSpec, ...] = ((NotSignedIn, "Not signed in"),)
FRESH: tuple[ErrorSpec, ...] = (
    *SIGNED_IN,
    (ReauthRequired, "no user verification in this session within REAUTH_MAX_AGE"),
)


@dataclass(frozen=True)
class Endpoint:
    """What one API view takes and answers, for the view's edge and for the document.

    ``responses``: status → an ``Answer`` model, ``(model, what it means)``, or a text for an
    answer without a body. ``errors``: the error classes the view may end with, each
    optionally with when (``(LastDevice, "the last active device")``); what every endpoint of
    its kind may answer (CSRF, body, rate limit) the document adds by itself."""

    summary: str
    tag: str
    responses: Mapping[int, ReplySpec]
    body: type[Body] | None = None
    query: type[Query] | None = None
    errors: Sequence[ErrorSpec] = ()
    description: str | None = None
    replies: dict[int, Reply] = field(init=False, repr=False, compare=False)
    error_notes: dict[type[AppError], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        replies: dict[int, Reply] = {}
        for status, reply in self.responses.items():
            if isinstance(reply, str):
                replies[status] = Reply(None, reply)
            elif isinstance(reply, tuple):
                replies[status] = Reply(*reply)
            else:
                replies[status] = Reply(reply)
        notes: dict[type[AppError], str] = {}
        for error_spec in self.errors:
            error, note = error_spec if isinstance(error_spec, tuple) else (error_spec, "")
            notes[error] = note
        object.__setattr__(self, "replies", replies)
        object.__setattr__(self, "error_notes", notes)


_ENDPOINTS: dict[str, Endpoint] = {}


def document(blueprint: str | None, **views: Endpoint) -> None:
    """Declares the endpoints of ``blueprint``'s views (by view name; None: the app's own)."""
    for view, endpoint in views.items():
        _ENDPOINTS[f"{blueprint}.{view}" if blueprint else view] = endpoint


def declared(endpoint_name: str | None) -> Endpoint | None:
    """The declaration of a Flask endpoint (``"webauthn_api.me"``), if any."""
    return _ENDPOINTS.get(endpoint_name or "")


def app_endpoints() -> dict[str, Endpoint]:
    """Every declaration (docs/openapi.py matches them with the URL map)."""
    return dict(_ENDPOINTS)
