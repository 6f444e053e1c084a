"""Layer 0: the one exception tree every other module raises from.

    AgentkitError                      base of everything agentkit raises
    ├── ConfigurationError             a caller's mistake (also a ValueError): what and what to do
    ├── ToolDefinitionError            a function cannot become a tool (raised at decoration)
    ├── ToolError                      one tool call failed; the loop turns these into data
    │   ├── ToolArgumentsError         the model's arguments are not valid JSON or fail validation
    │   └── ToolResultError            the tool's return value cannot be sent back as text
    └── ModelError                     talking to the model failed
        ├── ModelConfigurationError    no API key, a bad URL, an untrusted certificate: fix it
        ├── ModelHTTPError             the server answered with an error status
        │   ├── BadRequestError        400, 422: the request is wrong (names the field)
        │   │   └── ContextWindowExceeded  the prompt is longer than the model's window
        │   ├── AuthenticationError    401: missing or invalid API key
        │   ├── PermissionDeniedError  403: not allowed, or out of credits (AI/ML API)
        │   ├── NotFoundError          404: wrong path, method or model
        │   ├── RateLimitError         429: slow down (or out of quota: `code`)
        │   └── ServerError            5xx: the provider failed
        ├── ModelTimeoutError          no answer in time
        ├── ModelConnectionError       the connection failed or broke before a response
        ├── ModelStreamError           an `{"error": ...}` payload arrived inside a stream
        ├── StreamInterrupted          a stream ended before `[DONE]`; carries what arrived
        ├── ModelResponseError         a 200 response that is not a chat completion
        └── FallbackExhausted          every model of a `FallbackModel` failed (each one's error)
    ├── AgentRunError                  a run stopped; `.result` holds everything done so far
    │   ├── MaxTurnsExceeded           `max_turns` requests and still no final answer
    │   ├── UsageLimitExceeded         a usage limit (requests, tokens, tool calls) was reached
    │   ├── ToolRetriesExhausted       a tool kept failing past its retry budget
    │   ├── OutputValidationError      the structured output stayed invalid past its budget
    │   └── HistoryError               `message_history` cannot be continued as given
    ├── ExtractionError                `extract()` got no valid object; carries every attempt
    ├── StateSetupError                an approval state was recorded under another set-up
    ├── StateAlreadyDecided            an approval state was decided once already
    └── PrivateFileError               a file agentkit keeps is a symlink, or cannot be made 600

Messages say what was wrong, where, and what to do about it. Errors meant for the model
(`ToolArgumentsError`) are short and never echo the model's input back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: nothing is imported at run time (layer 0 stays put)
    from ._events import RunResult

__all__ = [
    "AgentRunError",
    "AgentkitError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ContextWindowExceeded",
    "ExtractionError",
    "FallbackExhausted",
    "HistoryError",
    "MaxTurnsExceeded",
    "ModelConfigurationError",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelResponseError",
    "ModelStreamError",
    "ModelTimeoutError",
    "NotFoundError",
    "OutputValidationError",
    "PermissionDeniedError",
    "PrivateFileError",
    "RateLimitError",
    "ServerError",
    "StateAlreadyDecided",
    "StateSetupError",
    "StreamInterrupted",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolError",
    "ToolResultError",
    "ToolRetriesExhausted",
    "UsageLimitExceeded",
    "single_error",
]


class AgentkitError(Exception):
    """Base class of every error agentkit raises."""


class ConfigurationError(AgentkitError, ValueError):
    """A caller's mistake: an option, a combination or a context that cannot work."""


def run_sync_guard(error: RuntimeError, name: str) -> RuntimeError | ConfigurationError:
    """The error for a `*_sync` call made inside a running event loop (Jupyter, a server).

    anyio's own words ("Already running asyncio in this thread") do not say what to do.
    """
    if "already running" not in str(error).lower():
        return error
    return ConfigurationError(
        f"{name}() cannot run inside a running event loop (a Jupyter notebook, an async "
        f"app): use `await {name.removesuffix('_sync')}(...)` there instead"
    )


class ToolDefinitionError(AgentkitError, TypeError):
    """A function cannot be turned into a tool.

    Raised when `@tool` is applied, never later, naming the function and the parameter at fault.
    """


class ToolError(AgentkitError):
    """A single tool call failed.

    Attributes:
        tool_name: The name of the tool that was called.
    """

    def __init__(self, message: str, *, tool_name: str) -> None:
        super().__init__(message)
        self.tool_name = tool_name


class ToolArgumentsError(ToolError, ValueError):
    """The model's arguments for a tool are not valid.

    `str(error)` is a short, model-readable summary (field path and reason for each problem,
    bounded in length, never the input itself). `errors` holds the same facts for programs.

    Attributes:
        errors: One dict per problem with `loc` (a tuple path), `msg` and `type`.
    """

    def __init__(
        self, message: str, *, tool_name: str, errors: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(message, tool_name=tool_name)
        self.errors: list[dict[str, Any]] = list(errors)


class ToolResultError(ToolError):
    """A tool returned a value that cannot be serialized for the model."""


class ModelError(AgentkitError):
    """Talking to the model failed.

    Attributes:
        result: Raised from a run: the partial `RunResult` (every message and the usage so
            far); None elsewhere.
    """

    result: RunResult[Any] | None = None


class ModelConfigurationError(ModelError):
    """The model client is not set up to make requests (for example, no API key)."""


class ModelHTTPError(ModelError):
    """The server answered with an error status.

    Attributes:
        status_code: The HTTP status.
        message: The provider's message (or a readable summary of a non-JSON body).
        code: The provider's error code, when it gives one (`"insufficient_quota"`).
        request_id: The `x-request-id` header (or the body's `requestId`), for support tickets.
        body: The decoded JSON body, or the raw text when it is not JSON.
        retry_after: Seconds the server asked to wait (`Retry-After` / `retry-after-ms`).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.code = code
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"HTTP {status_code}: {message}{suffix}")


class BadRequestError(ModelHTTPError):
    """400 or 422: the provider rejected the request body."""


class ContextWindowExceeded(BadRequestError):
    """The request is longer than the model's context window (the provider said so).

    Attributes:
        model: The model asked, when known.
        estimate: agentkit's estimate of the prompt's tokens, when it made one.
        limit: The window the provider or the profile gave, when known.
    """

    model: str | None = None
    estimate: int | None = None
    limit: int | None = None


class AuthenticationError(ModelHTTPError):
    """401: the API key is missing or invalid."""


class PermissionDeniedError(ModelHTTPError):
    """403: not allowed; AI/ML API also answers 403 when the account is out of credits."""


class NotFoundError(ModelHTTPError):
    """404: wrong path, method or model name."""


class RateLimitError(ModelHTTPError):
    """429: too many requests, or (with `code == "insufficient_quota"`) no quota left."""


class ServerError(ModelHTTPError):
    """5xx: the provider or its upstream failed."""


class ModelTimeoutError(ModelError):
    """The model did not answer in time."""


class ModelConnectionError(ModelError):
    """The connection could not be made, or broke before a response arrived."""


class ModelStreamError(ModelError):
    """The server sent an `{"error": {...}}` payload in the middle of a stream.

    Attributes:
        code: The error's code or type, when given.
        body: The decoded error payload.
    """

    def __init__(self, message: str, *, code: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body


class StreamInterrupted(ModelError):
    """A stream ended before `data: [DONE]`.

    Attributes:
        received: What arrived before the stream broke (a partial `Completion`, or `None`).
    """

    def __init__(self, message: str, *, received: Any = None) -> None:
        super().__init__(message)
        self.received = received


class ModelResponseError(ModelError):
    """A successful HTTP response whose body is not a chat completion (malformed JSON...).

    Attributes:
        body: The raw text received (cut to a readable length).
    """

    def __init__(self, message: str, *, body: str = "") -> None:
        super().__init__(message)
        self.body = body


class FallbackExhausted(ModelError):
    """Every model of a `FallbackModel` failed, or was skipped while its circuit was open.

    Attributes:
        failures: `(model label, error)` for each model, in the chain's order.
    """

    def __init__(self, message: str, *, failures: Sequence[tuple[str, BaseException]]) -> None:
        super().__init__(message)
        self.failures: tuple[tuple[str, BaseException], ...] = tuple(failures)


class AgentRunError(AgentkitError):
    """A run stopped before its final answer; nothing done so far is lost.

    Attributes:
        result: The partial `RunResult`: every message, the usage, the turns so far.
    """

    def __init__(self, message: str, *, result: RunResult[Any] | None = None) -> None:
        super().__init__(message)
        self.result: RunResult[Any] | None = result


class MaxTurnsExceeded(AgentRunError):
    """The run made `max_turns` model requests without reaching a final answer."""


class UsageLimitExceeded(AgentRunError):
    """A usage limit was reached.

    Attributes:
        limit: Which limit (`"requests"`, `"input_tokens"`, `"output_tokens"`,
            `"total_tokens"`, `"tool_calls"`, `"cost"`).
        value: The configured maximum (US dollars for `"cost"`).
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        value: int | Decimal,
        result: RunResult[Any] | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.limit = limit
        self.value = value


class ToolRetriesExhausted(AgentRunError):
    """A tool failed more often than its retry budget allows.

    Attributes:
        tool_name: The tool that kept failing.
        errors: The messages of its failures, oldest first.
    """

    def __init__(
        self,
        message: str,
        *,
        tool_name: str,
        errors: Sequence[str],
        result: RunResult[Any] | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.tool_name = tool_name
        self.errors: list[str] = list(errors)


class OutputValidationError(AgentRunError):
    """The model's structured output stayed invalid after every correction round.

    Attributes:
        errors: The validation messages of each failed attempt, oldest first.
    """

    def __init__(
        self, message: str, *, errors: Sequence[str], result: RunResult[Any] | None = None
    ) -> None:
        super().__init__(message, result=result)
        self.errors: list[str] = list(errors)


class HistoryError(AgentRunError):
    """The given `message_history` cannot be continued (for example, unanswered tool calls)."""


class ExtractionError(AgentkitError):
    """`extract()` could not get a valid object.

    Attributes:
        reason: `"invalid"` (retries spent), `"refused"`, or `"no_tool_call"`.
        attempts: Every attempt: its raw arguments (or text) and the errors found.
        usage: Tokens spent on all attempts.
    """

    def __init__(
        self, message: str, *, reason: str, attempts: Sequence[Any], usage: Any = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.attempts: list[Any] = list(attempts)
        self.usage = usage


class StateSetupError(AgentkitError, ValueError):
    """An approval state was recorded under another set-up (tools, instructions, model)."""


class StateAlreadyDecided(AgentkitError):
    """An approval state was decided once (its calls may have run): it is never used again."""


class PrivateFileError(AgentkitError):
    """A file agentkit keeps for its user is a symbolic link, or cannot be made private."""


@contextlib.asynccontextmanager
async def single_error() -> AsyncIterator[None]:
    """Raise a task group's only error as itself, not wrapped in an exception group."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
