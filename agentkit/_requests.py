"""Layer 4 (run loop): the request of each turn, as the loop sends it.

The conversation as the history processors shape it (`_history`), the instructions first, the
run's settings with this turn's `tool_choice` and the output's `response_format`, and an
`X-Client-Request-Id` that names the run and the turn. The prompt's estimate is made here, and
the per-request input cap (`UsageLimits.request_input_tokens`) is kept here, before anything
is sent.
"""

from __future__ import annotations

import itertools
import operator
import secrets
from collections.abc import Sequence
from typing import Any

from ._estimate import CHARS_PER_TOKEN, PromptEstimate, message_tokens
from ._exceptions import ContextWindowExceeded, HistoryError, UsageLimitExceeded
from ._history import Compaction, HistoryContext, HistoryProblem, apply_processors
from ._messages import Message, SystemMessage
from ._policy import RunSpec
from .models._base import ModelRequest, ModelSettings, ToolChoice, model_info
from .models._cost import catalogue_window

__all__ = ["TurnRequests"]

_PROCESS = secrets.token_hex(4)
_RUNS = itertools.count(1)


class TurnRequests:
    """Builds each turn's request for one run (see the module docs)."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.token = f"{_PROCESS}{next(_RUNS):x}"
        """This run's name in its requests' `X-Client-Request-Id` (`ak-<token>-<turn>`):
        unique in the process, and across processes by a random part drawn once."""
        self.estimate = PromptEstimate()
        self.instruction_tokens = (
            4 + len(spec.instructions) // CHARS_PER_TOKEN if spec.instructions else 0
        )
        self.last_estimate = 0
        """The estimate of the last request built (what it sent)."""
        self._whole = True  # the last request sent the conversation as stored
        self._covered = 0
        self._counted: dict[int, tuple[Message, int]] = {}

    async def build(
        self, turn: int, messages: list[Message], tool_choice: ToolChoice | None, model: Any,
        result: Any, *, forced: bool = False, observer: Any = None,
    ) -> ModelRequest:  # fmt: skip
        """The request of `turn` (`forced`: the provider refused the last one as too long)."""
        extra = 0 if self.estimate.report else self.instruction_tokens  # a report counts them
        stored = self.estimate.of(messages) + extra
        sent: Sequence[Message] = messages
        self.last_estimate, changed = stored, False
        if self.spec.history_processors:
            context = HistoryContext(model, model_info(model).name, self._window(model), stored,
                                     turn, forced, self.spec.history_memo, observer)  # fmt: skip
            try:
                sent = await apply_processors(self.spec.history_processors, messages, context)
            except HistoryProblem as problem:
                raise HistoryError(str(problem), result=result) from problem
            changed = len(sent) != len(messages) or not all(map(operator.is_, sent, messages))
            if changed:
                self.last_estimate = self.instruction_tokens + sum(map(self._tokens, sent))
        self._whole = not changed
        self._covered = len(messages)
        self._check_cap(result)
        return self._request(turn, sent, tool_choice)

    def _tokens(self, message: Message) -> int:
        """`message_tokens`, remembered by identity.

        A processor that keeps most of the history (clearing old results, say) sends the
        same objects turn after turn.
        """
        found = self._counted.get(id(message))
        if found is None or found[0] is not message:
            if len(self._counted) > 100_000:
                self._counted.clear()
            found = self._counted[id(message)] = (message, message_tokens(message))
        return found[1]

    def answered(self, prompt_tokens: int) -> None:
        """The provider counted the last request's prompt: the next estimate starts there."""
        if self._whole:
            self.estimate.reported(prompt_tokens, self._covered)

    def can_compact(self) -> bool:
        return any(isinstance(p, Compaction) for p in self.spec.history_processors)

    def too_long(self, error: ContextWindowExceeded, model: Any) -> ContextWindowExceeded:
        """`error` with what is known of the prompt and the window, and what to do."""
        error.model = model_info(model).name
        error.estimate = self.last_estimate
        error.limit = self._window(model)
        if not self.can_compact():
            error.add_note(
                "the conversation outgrew the model's context window; keep it in bounds with "
                "Agent(history_processors=[compact()]) (or clear_old_tool_results(), "
                "keep_last_turns()); error.result has the run so far"
            )
        return error

    def _check_cap(self, result: Any) -> None:
        cap = self.spec.limits.request_input_tokens
        if cap is not None and self.last_estimate > cap:
            raise UsageLimitExceeded(
                f"usage limit request_input_tokens={cap}: the next request is estimated at "
                f"{self.last_estimate} tokens and was not sent; add history processors to "
                "keep it smaller", limit="request_input_tokens", value=cap, result=result,
            )  # fmt: skip

    @staticmethod
    def _window(model: Any) -> int | None:
        """The profile's context window, else the provider's fetched model list's (#29/#30)."""
        info = model_info(model)
        if info.profile is not None and info.profile.context_window is not None:
            return info.profile.context_window
        return catalogue_window(info.provider, info.base_url, info.name)

    def _request(
        self, turn: int, messages: Sequence[Message], tool_choice: ToolChoice | None
    ) -> ModelRequest:
        spec = self.spec
        # A snapshot: the run's list keeps growing, a request must not.
        sent: Sequence[Message] = tuple(messages)
        if spec.instructions:
            sent = (SystemMessage(content=spec.instructions), *messages)
        overrides: dict[str, Any] = {}
        if tool_choice is not None:
            overrides["tool_choice"] = tool_choice
        if spec.parallel_tool_calls is not None:
            overrides["parallel_tool_calls"] = spec.parallel_tool_calls
        response_format = spec.output.response_format()
        if response_format is not None:
            overrides["response_format"] = response_format
        settings = spec.settings.merged(ModelSettings(**overrides)) if overrides else spec.settings
        return ModelRequest(
            messages=sent,
            tools=spec.definitions,
            settings=settings,
            client_request_id=f"ak-{self.token}-{turn}",
        )
