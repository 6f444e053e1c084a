"""Models a test makes against its loopback servers, closed after the test.

```python
from .loopback import chat, closes_models  # noqa: F401 (the fixture closes what chat made)
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentkit.testing import MockChatServer

MADE: list[Any] = []
"""Models made by the running test (their pooled connections are closed after it)."""


@pytest.fixture(autouse=True)
async def closes_models() -> AsyncIterator[None]:
    yield
    for model in MADE:
        await model.aclose()
    MADE.clear()


def chat(server: MockChatServer, **options: Any) -> Any:
    """A `ChatModel` on `server` that does not retry (unless told), closed after the test."""
    options.setdefault("max_retries", 0)
    return made(server.chat_model(**options))


def responses(server: MockChatServer, **options: Any) -> Any:
    """A `ResponsesModel` on `server`, closed after the test."""
    return made(server.responses_model(**options))


def made(model: Any) -> Any:
    """`model`, to be closed after the test."""
    MADE.append(model)
    return model
