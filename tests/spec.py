"""Validators for the two wire-format schemas every request must satisfy.

Both schemas live in tests/data/spec with their origin, commit and license (its README), so a
fresh clone validates every request against both, with nothing beside it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC = Path(__file__).parent / "data" / "spec"
OPENAI_SCHEMA = SPEC / "chat-completions.schema.json"
AIMLAPI_SCHEMA = SPEC / "aimlapi-gpt-5-2-chat-latest.schema.json"
DEFAULT_MODEL = "openai/gpt-5-2-chat-latest"


@cache
def _validator(path: Path, name: str) -> Draft202012Validator:
    document = json.loads(path.read_text())
    return Draft202012Validator({**document, "$ref": f"#/$defs/{name}"})


def openai_validator(name: str = "CreateChatCompletionRequest") -> Draft202012Validator:
    return _validator(OPENAI_SCHEMA, name)


def aimlapi_validator(name: str = "Request") -> Draft202012Validator:
    return _validator(AIMLAPI_SCHEMA, name)


def request_problems(body: Any) -> list[str]:
    """Every way `body` breaks either request schema (for MockChatServer's `validate`)."""
    problems = [f"openai: {e.message}" for e in openai_validator().iter_errors(body)]
    problems += [f"aimlapi: {e.message}" for e in aimlapi_validator().iter_errors(body)]
    return problems
