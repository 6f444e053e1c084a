"""What a batch does with each record: run an agent, extract an object, or call your function."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic_core import to_jsonable_python

from agentkit._agent import Agent
from agentkit._extract import Extractor
from agentkit.models._base import model_info
from agentkit.models._gate import RequestGate
from agentkit.models._limited import RateLimitedModel

from ._attach import ATTACHMENTS_FIELD, load_attachments

__all__ = ["BatchContext", "BatchTask", "TaskOutput", "make_task"]


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What a task knows about the item it works on."""

    id: str
    attempt: int
    """1 for the first try of this item, more after failures and resumes."""
    trace_to: Path | None = None
    """The item's timeline file when the batch records them (`trace_dir`); pass it on to
    `agent.run(..., trace_to=)` / `extractor.run(..., trace_to=)` in your own task."""


@dataclass(frozen=True, slots=True)
class TaskOutput:
    """A task's JSON-ready result and the usage it spent."""

    result: Any
    usage: dict[str, Any] | None = None


class BatchTask(Protocol):
    """One unit of batch work."""

    name: str

    def fingerprint(self) -> str:
        """What identifies the job (a resumed journal must match it)."""
        ...

    async def __call__(self, record: Any, context: BatchContext) -> TaskOutput:
        """Process one record."""
        ...


def _text(record: Any, field: str | None, default: str) -> str:
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        raise ValueError(f"a record must be an object or a string, not {type(record).__name__}")
    key = field or default
    value = record.get(key)
    if isinstance(value, str):
        return value
    if value is None and field is None and ATTACHMENTS_FIELD in record:
        strings = [k for k, v in record.items() if isinstance(v, str) and k != "id"]
        if not strings:
            return ""  # the attachments are the whole input
    strings = [k for k, v in record.items() if isinstance(v, str) and k != "id"]
    if field is None and len(strings) == 1:
        return str(record[strings[0]])
    raise ValueError(f"the record has no text field {key!r} (fields: {', '.join(record)})")


def _with_parts(record: Any, text: str) -> Any:
    """The text, with the record's attachments after it when it has any."""
    parts = load_attachments(record)
    return [*([text] if text else []), *parts] if parts else text


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class AgentTask:
    """Run an agent on each record's prompt (field `prompt`, or the only text field)."""

    def __init__(self, agent: Agent[Any], field: str | None = None) -> None:
        self.agent: Agent[Any] = agent
        self.field: str | None = field
        self.name: str = "agent"

    def fingerprint(self) -> str:
        model = model_info(self.agent.model).name
        tools = sorted(self.agent.tools)
        schemas = self.agent.output.schemas()
        schema = schemas[0] if len(schemas) == 1 else schemas or None  # as when there was one
        return _digest("agent", model, self.agent.instructions, tools, schema)

    def limited(self, gate: RequestGate) -> AgentTask:
        """This task with every model request of its agent passing `gate`."""
        limited = RateLimitedModel(self.agent.model, gate)
        return AgentTask(self.agent.with_model(limited), self.field)

    async def __call__(self, record: Any, context: BatchContext) -> TaskOutput:
        result = await self.agent.run(
            _with_parts(record, _text(record, self.field, "prompt")), trace_to=context.trace_to
        )
        usage = result.usage.model_dump(mode="json")
        usage["models"] = {name: u.requests for name, u in result.usage_by_model().items()}
        return TaskOutput(to_jsonable_python(result.output), usage)


class ExtractTask:
    """Extract one object from each record's text (field `text`, or the only text field)."""

    def __init__(self, extractor: Extractor[Any], field: str | None = None) -> None:
        self.extractor: Extractor[Any] = extractor
        self.field: str | None = field
        self.name: str = "extract"

    def fingerprint(self) -> str:
        model = model_info(self.extractor.model).name
        schemas = self.extractor.output.schemas()
        return _digest("extract", model, self.extractor.instructions, schemas, self.extractor.mode)

    def limited(self, gate: RequestGate) -> ExtractTask:
        """This task with every model request of its extractor passing `gate`."""
        limited = RateLimitedModel(self.extractor.model, gate)
        return ExtractTask(self.extractor.with_model(limited), self.field)

    async def __call__(self, record: Any, context: BatchContext) -> TaskOutput:
        result = await self.extractor.run(
            _with_parts(record, _text(record, self.field, "text")), trace_to=context.trace_to
        )
        usage = result.usage.model_dump(mode="json")
        usage["models"] = dict(Counter(attempt.model for attempt in result.attempts))
        return TaskOutput(to_jsonable_python(result.value), usage)


class FunctionTask:
    """Call `function(record, context)` (sync or async); its return value is the result."""

    def __init__(self, function: Callable[[Any, BatchContext], Any]) -> None:
        self.function = function
        self.name: str = str(getattr(function, "__qualname__", "function"))

    def fingerprint(self) -> str:
        return _digest("function", getattr(self.function, "__module__", ""), self.name)

    async def __call__(self, record: Any, context: BatchContext) -> TaskOutput:
        value = self.function(record, context)
        if inspect.isawaitable(value):
            value = await value
        if isinstance(value, TaskOutput):
            return value
        return TaskOutput(to_jsonable_python(value))


def make_task(target: Any, *, field: str | None = None, model: Any = None) -> BatchTask:
    """A task from an `Agent`, an output type (extraction), a function, or a task itself."""
    if isinstance(target, AgentTask | ExtractTask | FunctionTask):
        return target
    if isinstance(target, Agent):
        return AgentTask(target, field)
    if isinstance(target, Extractor):
        return ExtractTask(target, field)
    if isinstance(target, type) or getattr(target, "__origin__", None) is not None:
        return ExtractTask(Extractor(target, model=model), field)
    if callable(target):
        return FunctionTask(target)
    raise TypeError(f"{target!r} is not an Agent, an output type or a function")
