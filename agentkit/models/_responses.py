"""Layer 3 (model boundary): `ResponsesModel`, a model on OpenAI's Responses dialect.

```python
from agentkit.models import ResponsesModel

model = ResponsesModel(model="gpt-5.4", base_url="https://api.openai.com/v1", api_key=...)
```

Everything but the dialect is `ChatModel`'s: the transport and its pool, retries, timeouts,
headers, the key kept out of every text, and the error mapping. It posts to
`{base_url}/responses` (see `_responses_wire` for the shape, `_responses_sse` for the
stream); reasoning is replayed statelessly (`store: false`, encrypted reasoning sent back).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agentkit._messages import Completion

from ._base import ModelRequest
from ._chat import ChatModel
from ._media_wire import Spliced
from ._profile import ModelProfile
from ._responses_sse import ResponsesAccumulator
from ._responses_wire import decode_response, encode_responses_request

__all__ = ["ResponsesModel"]


class ResponsesModel(ChatModel):
    """An OpenAI-compatible `/responses` endpoint; the options are `ChatModel`'s."""

    _PATH = "/responses"

    def __init__(self, *, store: bool = False, **options: Any) -> None:
        """Configure the endpoint (the options are `ChatModel`'s).

        Args:
            store: Let the provider keep the conversation (`store: true`): each request
                then sends only what came after the last answer, naming that answer by
                `previous_response_id`. By default nothing is stored there: the whole
                conversation is sent, reasoning replayed from its encrypted content.
            options: As for `ChatModel`.
        """
        super().__init__(**options)
        self.store = store
        changes: dict[str, Any] = {"dialect": "responses"}
        if store:  # the provider keeps the conversation: nothing encrypted to replay
            changes.update(reasoning_replay=False, server_state=True)
        self.profile: ModelProfile = dataclasses.replace(self.profile, **changes)

    def __repr__(self) -> str:
        return "Responses" + super().__repr__().removeprefix("Chat")

    def _encode(
        self, request: ModelRequest, *, stream: bool, spliced: Spliced | None = None
    ) -> dict[str, Any]:
        return encode_responses_request(
            request, model=self.model, stream=stream, profile=self.profile, spliced=spliced
        )

    def _decode(self, data: Any) -> Completion:
        return decode_response(data)

    def _accumulator(self) -> Any:
        return ResponsesAccumulator()
