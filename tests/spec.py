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
RESPONSES_SCHEMA = SPEC / "responses.schema.json"
DEFAULT_MODEL = "openai/gpt-5-2-chat-latest"


@cache
def _validator(path: Path, name: str) -> Draft202012Validator:
    document = json.loads(path.read_text())
    return Draft202012Validator({**document, "$ref": f"#/$defs/{name}"})


def openai_validator(name: str = "CreateChatCompletionRequest") -> Draft202012Validator:
    return _validator(OPENAI_SCHEMA, name)


def aimlapi_validator(name: str = "Request") -> Draft202012Validator:
    return _validator(AIMLAPI_SCHEMA, name)


def responses_validator(name: str = "CreateResponse") -> Draft202012Validator:
    return _validator(RESPONSES_SCHEMA, name)


def request_problems(body: Any) -> list[str]:
    """Every way `body` breaks its request schemas (for MockChatServer's `validate`).

    A Chat Completions body must meet both OpenAI's and AI/ML API's schema; a Responses body
    (it has `input`) OpenAI's published Responses schema, strictly, except where that schema
    is known to be wrong (see `responses_problems`).
    """
    if isinstance(body, dict) and "input" in body:
        return responses_problems(body)
    problems = [f"openai: {e.message}" for e in openai_validator().iter_errors(body)]
    problems += [f"aimlapi: {e.message}" for e in aimlapi_validator().iter_errors(body)]
    return problems


def responses_problems(body: Any) -> list[str]:
    """Every way `body` breaks OpenAI's Responses request schema.

    One documented exception (data/spec/README.md): an input message whose content is a list
    of parts matches both `EasyInputMessage` and `InputMessage`, so the published `oneOf`
    refuses every such message, valid or not. Those items are checked against
    `EasyInputMessage` alone instead.
    """
    problems = []
    for error in responses_validator().iter_errors(body):
        path = list(error.absolute_path)
        if path == ["input"] and error.context:  # the same, reported for the whole list
            ambiguous = [c for c in error.context if "is valid under each of" in c.message]
            others = [c for c in error.context
                      if c not in ambiguous and "is not of type 'string'" not in c.message]  # fmt: skip
            if ambiguous and not others:
                for each in ambiguous:
                    position = list(each.absolute_path)[1]
                    item = body["input"][position]
                    problems += [f"responses: input[{position}]: {e.message}"
                                 for e in responses_validator("EasyInputMessage").iter_errors(item)]  # fmt: skip
                continue
        if len(path) == 2 and path[0] == "input" and "is valid under each of" in error.message:
            item = body["input"][path[1]]
            problems += [f"responses: input[{path[1]}]: {e.message}"
                         for e in responses_validator("EasyInputMessage").iter_errors(item)]  # fmt: skip
            continue
        problems.append(f"responses: {error.message}")
    return problems
