"""Validates real responses against the OpenAPI document, so the document stays true."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).resolve().parent.parent / "static" / "openapi.json"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _template_for(path: str) -> str:
    # As OpenAPI says: a concrete path wins over a templated one (/sessions/end-others over
    # /sessions/{session_id}).
    for template in sorted(spec()["paths"], key=lambda template: template.count("{")):
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not documented in openapi.json")


def check_response(method: str, path: str, status: int, body: Any) -> None:
    """Asserts ``status`` is documented for (method, path) and ``body`` matches its schema."""
    operation = spec()["paths"][_template_for(path)].get(method.lower())
    assert operation is not None, f"{method} {path} is not documented"
    documented = operation["responses"].get(str(status))
    assert documented is not None, f"{method} {path} → {status} is not documented"
    content = documented.get("content")
    if content is None:
        assert body in (None, b"", ""), f"{method} {path} → {status} documents no body"
        return
    schema = {**content["application/json"]["schema"], "components": spec()["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
