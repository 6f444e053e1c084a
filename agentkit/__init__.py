"""agentkit: plain Python functions as JSON-schema tools, run by a fast, correct agent loop.

```python
from agentkit import tool

@tool
def get_weather(city: str) -> str:
    \"\"\"Get the current weather for a city.\"\"\"
    return "sunny"

get_weather.definition()   # the tool as a model sees it (openai_tool(...): the wire dict)
```
"""

# General layout. Each layer imports only from the layers above it in this list (and from its
# own layer); tests/test_layers.py checks it. Modules are private; this file is the surface.
#
# 0. foundation: _exceptions, _version, _private, _redact, _visible, _fixed
# 1. conversation data: _media, _messages, _session_store, _session
# 2. tool definition: _docstrings, _strict, _schema, _tool_base, _tool, _toolset
# 3. model boundary: models (records, the Chat Completions dialect, transport, providers)
# 4. run loop: _events, _dispatch, _approvals, _output, _policy, _observe, _estimate, _history,
#    _requests, _limits, _loop, _model_holder, _agent_setup, _agent_stream, _agent,
#    _extract_values, _extract
# 5. edges: testing, batch, mcp, otel, durable, _loading, _demo, __main__, tools, cli
#
# `_observe` is observability in one package (the observer protocol, the timeline, the
# OpenTelemetry instrument, the timeline's page); `otel` is the public face of its
# OpenTelemetry instrument. `cli` is the command, a package of its own.

import importlib
from typing import TYPE_CHECKING

from ._agent import DEFAULT_MAX_TURNS, Agent, AgentStream
from ._approvals import Deny, Supply
from ._dispatch import DEFER, ApprovalRequest, Approver, Deferral
from ._events import (
    PendingApprovals,
    PendingCall,
    RunEnded,
    RunEvent,
    RunResult,
    ToolCallFinished,
    ToolResult,
    Turn,
    TurnEnded,
)
from ._exceptions import (
    AgentkitError,
    AgentRunError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContextWindowExceeded,
    ExtractionError,
    FallbackExhausted,
    HistoryError,
    MaxTurnsExceeded,
    ModelConfigurationError,
    ModelConnectionError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    ModelStreamError,
    ModelTimeoutError,
    NotFoundError,
    OutputValidationError,
    PermissionDeniedError,
    PrivateFileError,
    RateLimitError,
    ServerError,
    StateAlreadyDecided,
    StateSetupError,
    StreamInterrupted,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolError,
    ToolResultError,
    ToolRetriesExhausted,
    UsageLimitExceeded,
)
from ._history import (
    HistoryContext,
    clear_old_tool_results,
    compact,
    keep_last_turns,
    truncate_tool_results,
)
from ._loop import capture_run_messages
from ._media import Audio, Document, Image
from ._messages import (
    AssistantMessage,
    Choice,
    Completion,
    DeveloperMessage,
    ImagePart,
    Message,
    Reasoning,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
    messages_from_json,
    messages_to_json,
)
from ._observe import Instrument, RunInfo, RunObserver
from ._policy import LoopPolicy, UsageLimits
from ._tool import (
    DEFAULT_MAX_RESULT_CHARS,
    DEFAULT_TOOL_TIMEOUT,
    BaseTool,
    RunContext,
    Tool,
    ToolDefinition,
    serialize_result,
    tool,
)
from ._toolset import Toolset
from ._version import __version__ as __version__
from .models._base import (
    JsonObjectFormat,
    JsonSchemaFormat,
    Model,
    ModelRequest,
    ModelSettings,
    ReasoningDelta,
    RefusalDelta,
    ResponseCompleted,
    ResponseFormat,
    StreamDelta,
    TextDelta,
    TextFormat,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    UseTool,
)
from .models._profile import ModelProfile, SettingDroppedWarning
from .models._retry import RetryPolicy

__all__ = [
    "DEFAULT_MAX_RESULT_CHARS",
    "DEFAULT_MAX_TURNS",
    "DEFAULT_TOOL_TIMEOUT",
    "DEFER",
    "Agent",
    "AgentRunError",
    "AgentStream",
    "AgentkitError",
    "ApprovalRequest",
    "Approver",
    "AssistantMessage",
    "Attempt",
    "Audio",
    "AuthenticationError",
    "BadRequestError",
    "BaseTool",
    "Candidate",
    "ChatModel",
    "Choice",
    "Completion",
    "ConfigurationError",
    "ContextWindowExceeded",
    "Deferral",
    "Deny",
    "DeveloperMessage",
    "Document",
    "Extraction",
    "ExtractionError",
    "Extractor",
    "FallbackExhausted",
    "HistoryContext",
    "HistoryError",
    "Image",
    "ImagePart",
    "Instrument",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "LoopPolicy",
    "MaxTurnsExceeded",
    "Message",
    "Model",
    "ModelConfigurationError",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelProfile",
    "ModelRequest",
    "ModelResponseError",
    "ModelSettings",
    "ModelStreamError",
    "ModelTimeoutError",
    "NotFoundError",
    "OutputValidationError",
    "PendingApprovals",
    "PendingCall",
    "PermissionDeniedError",
    "PrivateFileError",
    "RateLimitError",
    "Reasoning",
    "ReasoningDelta",
    "Recording",
    "RefusalDelta",
    "ResponseCache",
    "ResponseCompleted",
    "ResponseFormat",
    "RetryPolicy",
    "RunContext",
    "RunEnded",
    "RunEvent",
    "RunInfo",
    "RunObserver",
    "RunResult",
    "SQLiteSession",
    "ServerError",
    "SessionBusy",
    "SessionInfo",
    "SessionStoreError",
    "SettingDroppedWarning",
    "StateAlreadyDecided",
    "StateSetupError",
    "StreamDelta",
    "StreamInterrupted",
    "Supply",
    "SystemMessage",
    "TextDelta",
    "TextFormat",
    "TextPart",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallArgumentsDelta",
    "ToolCallFinished",
    "ToolCallReady",
    "ToolCallStarted",
    "ToolDefinition",
    "ToolDefinitionError",
    "ToolError",
    "ToolMessage",
    "ToolResult",
    "ToolResultError",
    "ToolRetriesExhausted",
    "Toolset",
    "Turn",
    "TurnEnded",
    "Usage",
    "UsageLimitExceeded",
    "UsageLimits",
    "UseTool",
    "UserMessage",
    "capture_run_messages",
    "clear_old_tool_results",
    "compact",
    "extract",
    "extract_sync",
    "infer_model",
    "instrument",
    "keep_last_turns",
    "messages_from_json",
    "messages_to_json",
    "openai_tool",
    "serialize_result",
    "tool",
    "truncate_tool_results",
    "uninstrument",
]


# Imported on first use, not by `import agentkit`: ChatModel brings httpx (~90 ms), and
# extraction is a module of its own that agent-only code never needs.
_LAZY = {
    "ChatModel": "models._chat",
    "openai_tool": "models._chat_wire",
    "infer_model": "models._infer",
    "ResponseCache": "models._cache",
    **dict.fromkeys(
        ("Recording", "SQLiteSession", "SessionBusy", "SessionInfo", "SessionStoreError"),
        "_session",
    ),
    **dict.fromkeys(("instrument", "uninstrument"), "otel"),
    **dict.fromkeys(
        ("Attempt", "Candidate", "Extraction", "Extractor", "extract", "extract_sync"), "_extract"
    ),
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agentkit.{module}"), name)
    globals()[name] = value  # found directly from now on
    return value


if TYPE_CHECKING:
    from ._extract import Attempt, Candidate, Extraction, Extractor, extract, extract_sync
    from ._session import Recording, SessionBusy, SessionInfo, SessionStoreError, SQLiteSession
    from .models._cache import ResponseCache
    from .models._chat import ChatModel
    from .models._chat_wire import openai_tool
    from .models._infer import infer_model
    from .otel import instrument, uninstrument
