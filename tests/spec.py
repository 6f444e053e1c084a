"""Validators for the two wire-format schemas every request must satisfy.

The OpenAI schema (MIT) is copied into tests/data with its license. The AI/ML API schema has
no license, so it is read from ../shared/spec beside the checkout; tests that need it skip,
saying why, where it is absent (CI has it).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
OPENAI_SCHEMA = Path(__file__).parent / "data" / "chat-completions.schema.json"
AIMLAPI_SCHEMA = ROOT.parent / "shared" / "spec" / "aimlapi-gpt-5-2-chat-latest.schema.json"
DEFAULT_MODEL = "openai/gpt-5-2-chat-latest"


@cache
def _validator(path: Path, name: str) -> Draft202012Validator:
    document = json.loads(path.read_text())
    return Draft202012Validator({**document, "$ref": f"#/$defs/{name}"})


def openai_validator(name: str = "CreateChatCompletionRequest") -> Draft202012Validator:
    return _validator(OPENAI_SCHEMA, name)


def aimlapi_validator(name: str = "Request") -> Draft202012Validator:
    if not AIMLAPI_SCHEMA.exists():
        pytest.skip(f"AI/ML API schema not found at {AIMLAPI_SCHEMA} (it is in shared/spec)")
    return _validator(AIMLAPI_SCHEMA, name)


def request_problems(body: Any) -> list[str]:
    """Every way `body` breaks either request schema (for MockChatServer's `validate`)."""
    problems = [f"openai: {e.message}" for e in openai_validator().iter_errors(body)]
    if AIMLAPI_SCHEMA.exists():
        problems += [f"aimlapi: {e.message}" for e in aimlapi_validator().iter_errors(body)]
    return problems
