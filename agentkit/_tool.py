"""Layer 2 (tool definition): `@tool`, `Tool` and `RunContext`.

A `Tool` wraps a plain Python callable. Its schema and validator are built once, when the tool
is defined; `validate()` then checks the model's raw JSON arguments and `call()` runs the
function with them. The loop (layer 4) decides *when* and *how* (threads, timeouts, retries).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, get_origin, overload

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_json

from ._docstrings import DocstringStyle
from ._exceptions import ToolDefinitionError, ToolResultError
from ._media import Audio, Document, Image
from ._messages import MediaRecord, Usage
from ._schema import function_schema
from ._tool_base import BaseTool, ToolDefinition, ToolKind, checked_name

__all__ = [
    "DEFAULT_MAX_RESULT_CHARS",
    "DEFAULT_TOOL_TIMEOUT",
    "BaseTool",
    "RunContext",
    "Tool",
    "ToolDefinition",
    "ToolKind",
    "canonical_arguments",
    "serialize_result",
    "tool",
]

DEFAULT_TOOL_TIMEOUT = 120.0
"""Seconds a call may take unless its tool says otherwise (`timeout=None`: no limit)."""
DEFAULT_MAX_RESULT_CHARS = 100_000
"""Characters of a result sent back to the model; the rest is cut with a note saying so."""

P = ParamSpec("P")
R = TypeVar("R")
DepsT = TypeVar("DepsT")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext(Generic[DepsT]):
    """What a tool may know about the run that called it.

    Declare it as a tool's first parameter (`ctx: RunContext[MyDeps]`) and the loop passes it
    in; it never appears in the schema the model sees.
    """

    deps: DepsT
    """The dependencies given to the run (a database handle, an HTTP client, settings...)."""
    usage: Usage = field(default_factory=Usage)
    """Usage of the run so far."""
    tool_name: str = ""
    """The name of the tool being called."""
    tool_call_id: str = ""
    """The id the model gave this call."""
    retry: int = 0
    """How many earlier calls of this tool in this run failed (0 on the first try)."""
    _added: list[Usage] = field(default_factory=list, init=False, repr=False, compare=False)

    def add_usage(self, usage: Usage) -> None:
        """Count usage this call spent on the run's behalf (a nested agent's requests, say).

        The loop adds it to the run's usage when the call ends, and checks the usage limits.
        """
        self._added.append(usage)

    def spent(self) -> Usage | None:
        """The sum of what `add_usage` recorded in this call, or None."""
        return sum(self._added[1:], self._added[0]) if self._added else None


def _defining_locals() -> Mapping[str, Any] | None:
    """The local names of the frame that made the tool (the first frame outside agentkit).

    A function defined inside another one, in a module with postponed annotations, may name
    classes local to the enclosing function; pydantic resolves those from the defining frame,
    and so does this.
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("agentkit."):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_locals is frame.f_globals:
        return None  # module level: the globals already resolve everything
    return frame.f_locals


def _is_run_context(annotation: Any) -> bool:
    return annotation is RunContext or get_origin(annotation) is RunContext


class Tool(BaseTool, Generic[P, R]):
    """A Python callable the model can call, with its name, description and JSON schema.

    A function tool: the sibling of the MCP servers' tools under `BaseTool`.

    Make one with `@tool`, `Tool(function, ...)` or `Tool.from_model(Model)`. The tool stays
    callable as the original function.
    """

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
        timeout: float | None = DEFAULT_TOOL_TIMEOUT,
        max_retries: int | None = None,
        requires_approval: bool = False,
        docstring_style: DocstringStyle = "auto",
        describe_returns: bool = False,
        max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        """Define a tool.

        Args:
            function: A function (sync or async), bound method, `functools.partial` or
                callable object.
            name: The name the model sees; defaults to the function's name.
            description: Overrides the description taken from the docstring.
            strict: `None` uses strict mode whenever the schema allows it; `True` demands it
                (and raises when impossible); `False` never uses it.
            timeout: Seconds a single call may take before it fails as a timeout (default
                `DEFAULT_TOOL_TIMEOUT`, 120 s; `None` for no limit).
            max_retries: Failed calls of this tool a run tolerates; `None` uses the agent's.
            requires_approval: Ask the run's approver before every call.
            docstring_style: `"auto"`, `"google"`, `"numpy"`, `"sphinx"` or `"epydoc"`.
            describe_returns: Append the docstring's returns section to the description.
            max_result_chars: Characters of a result sent to the model (default
                `DEFAULT_MAX_RESULT_CHARS`, 100,000); a longer one is cut and the model told
                how much was left out. `None` sends everything.

        Raises:
            ToolDefinitionError: The function, a parameter type or an option is unusable.
        """
        self.function = function
        shown = checked_name(name if name is not None else _default_name(function))
        schema = function_schema(
            function,
            display_name=shown,
            docstring_style=docstring_style,
            describe_returns=describe_returns,
            is_context=_is_run_context,
            local_names=_defining_locals(),
        )
        if strict and schema.strict_parameters is None:
            reasons = "; ".join(schema.strict_problems)
            raise ToolDefinitionError(f"{shown}: strict mode is impossible: {reasons}")
        self._schema = schema
        super().__init__(
            name=shown,
            description=description if description is not None else schema.description,
            strict=strict is not False and schema.strict_parameters is not None,
            timeout=timeout,
            max_result_chars=max_result_chars,
            max_retries=max_retries,
            requires_approval=requires_approval,
            is_async=_is_async(function),
            takes_context=schema.takes_context,
        )
        functools.update_wrapper(self, function, updated=())
        self._fix()  # a definition an agent already sent must not change silently

    @classmethod
    def from_model(
        cls,
        output_type: type[T],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
    ) -> Tool[..., T]:
        """Make an extraction tool whose arguments are one `output_type` object.

        `output_type` is a pydantic model, dataclass or TypedDict. Calling the tool returns the
        validated object. The name defaults to the class name, the description to its docstring.

        Raises:
            ToolDefinitionError: `output_type` is not an object type.
        """
        tool_name = name if name is not None else getattr(output_type, "__name__", "")
        function = _returning(output_type)
        made: Tool[..., T] = Tool(function, name=tool_name, description=description, strict=strict)
        if made._schema.flattened is None:
            raise ToolDefinitionError(
                f"{tool_name}: Tool.from_model needs a pydantic model, dataclass or TypedDict, "
                f"not {output_type!r}"
            )
        return made

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as sent on the wire (strict form when strict)."""
        if self.strict and self._schema.strict_parameters is not None:
            return self._schema.strict_parameters
        return self._schema.parameters

    @property
    def strict_problems(self) -> tuple[str, ...]:
        """Why strict mode is impossible for this tool (empty when it is possible)."""
        return self._schema.strict_problems

    def validate(self, raw_arguments: str) -> dict[str, Any]:
        """Check the model's raw JSON arguments and return them by parameter name.

        Raises:
            ToolArgumentsError: The arguments are invalid; its message is fit for the model.
        """
        return self._schema.validate_json(raw_arguments, tool_name=self.name)

    def call(self, arguments: Mapping[str, Any], context: RunContext[Any] | None = None) -> Any:
        """Call the function with validated arguments (returns an awaitable for async tools)."""
        args, kwargs = self._schema.bind(arguments, context)
        return self.function(*args, **kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, strict={self.strict})"


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    timeout: float | None = DEFAULT_TOOL_TIMEOUT,
    max_retries: int | None = None,
    requires_approval: bool = False,
    docstring_style: DocstringStyle = "auto",
    describe_returns: bool = False,
    max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    function: Callable[P, R] | None = None, /, **options: Any
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Turn a function into a `Tool`; use bare (`@tool`) or with options (`@tool(name=...)`).

    The options are those of `Tool`. See `Tool` for what each means.
    """
    if function is not None:
        if isinstance(function, Tool) and not options:
            return function
        return Tool(function, **options)

    def decorate(inner: Callable[P, R]) -> Tool[P, R]:
        return Tool(inner, **options)

    return decorate


def canonical_arguments(value: Any) -> Any:
    """Validated arguments in one JSON form that compares by value, in any process.

    Models and dataclasses become objects, tuples arrays, dates, paths, decimals, UUIDs and
    enums their JSON text, and sets sorted arrays (a set's order changes between processes,
    as string hashing does): what a person was shown and what runs compare equal exactly
    when they are the same arguments.
    """
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): canonical_arguments(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        items = [canonical_arguments(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, list | tuple):
        return [canonical_arguments(item) for item in value]
    return json.loads(to_json(value, fallback=repr))


_MEDIA = (Image, Document, Audio)


def result_with_media(value: Any, *, tool_name: str) -> tuple[str, tuple[MediaRecord, ...]]:
    """A tool's return value as text for the model, and the images, documents or audio in it.

    An `Image`, `Document` or `Audio` (or a list mixing them with other values) goes as its
    parts; the text then says, at each one's place, what was attached. Anything else is
    `serialize_result`'s.
    """
    if isinstance(value, Image | Document | Audio):
        return f"[{value.describe()} attached]", (value,)
    if isinstance(value, list | tuple) and any(isinstance(v, _MEDIA) for v in value):
        lines, parts = [], []
        for item in value:
            if isinstance(item, _MEDIA):
                parts.append(item)
                lines.append(f"[{item.describe()} attached]")
            else:
                lines.append(serialize_result(item, tool_name=tool_name))
        return "\n".join(lines), tuple(parts)
    return serialize_result(value, tool_name=tool_name), ()


def serialize_result(value: Any, *, tool_name: str) -> str:
    """Turn a tool's return value into the text sent back to the model.

    `str` goes as it is; models, dataclasses, dicts, lists, numbers and `None` become compact
    JSON (never a Python repr).

    Raises:
        ToolResultError: The value is bytes, text that is not valid Unicode (a lone
            surrogate), holds NaN or infinity, or cannot be serialized as JSON.
    """
    if isinstance(value, str):
        return _valid_text(value, tool_name)
    if isinstance(value, bytes | bytearray | memoryview):
        raise ToolResultError(
            f"tool {tool_name!r} returned bytes; return text (decode it) or a JSON-friendly value",
            tool_name=tool_name,
        )
    try:
        if isinstance(value, BaseModel):  # its own config says what NaN becomes (null)
            return value.model_dump_json()
        text = to_json(value).decode()
    except PydanticSerializationError as error:
        raise ToolResultError(
            f"tool {tool_name!r} returned a {type(value).__name__} that cannot be serialized as "
            f"JSON ({error}); return str, a dict, a list, a pydantic model or a dataclass",
            tool_name=tool_name,
        ) from None
    if ("NaN" in text or "Infinity" in text) and _has_non_finite(text):
        raise ToolResultError(
            f"tool {tool_name!r} returned NaN or infinity, which JSON cannot carry; "
            "return None or a string in their place",
            tool_name=tool_name,
        )
    return text


class _NonFinite(Exception):
    pass


def _refuse_constant(_: str) -> Any:
    raise _NonFinite


def _has_non_finite(text: str) -> bool:
    """Whether JSON text holds a bare NaN/Infinity token (not merely those words in a string)."""
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except _NonFinite:
        return True
    return False


def _valid_text(text: str, tool_name: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ToolResultError(
            f"tool {tool_name!r} returned text that is not valid Unicode (a lone surrogate at "
            f"position {error.start}); decode bytes with errors='replace'",
            tool_name=tool_name,
        ) from None
    return text


def _returning(output_type: type[T]) -> Callable[..., T]:
    """A function of one `output_type` parameter that returns its argument."""

    def value(value: T) -> T:
        return value

    parameter = inspect.Parameter(
        "value", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=output_type
    )
    value.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    return value


def _default_name(function: Callable[..., Any]) -> str:
    target: Any = function
    while isinstance(target, functools.partial):
        target = target.func
    name = getattr(target, "__name__", None) or type(target).__name__
    if name == "<lambda>":
        raise ToolDefinitionError("a lambda has no name; pass one: tool(fn, name='...')")
    return str(name)


def _is_async(function: Callable[..., Any]) -> bool:
    target: Any = function
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    call = getattr(type(target), "__call__", None)  # noqa: B004 - a callable object
    return not inspect.isroutine(target) and inspect.iscoroutinefunction(call)
