"""Layer 5 (edges): an MCP server's tool as an agentkit `Tool`, and its results as text.

The server's input schema becomes the tool's `ToolDefinition` (strict where agentkit's strict
rules allow it); the model's arguments are checked against the server's own schema here,
before anything is sent, so the model gets the same compact feedback as for a local tool.
A result's text, embedded text resources and structured content go back to the model;
images, audio and PDF resources go with them as `Image` / `Audio` / `Document` parts when
their base64 is valid, their content is of a format models take (read from the bytes, not
from the server's `mimeType`) and they are within the media limits; anything else is named,
not sent. `isError` results raise `ToolError`: a failure the model sees, within its retries.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from mcp_types import CallToolResult
from mcp_types import Tool as RemoteTool

from agentkit._exceptions import (
    ConfigurationError,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolError,
)
from agentkit._media import MEDIA_LIMITS, Audio, Document, Image
from agentkit._schema import describe_errors, parse_arguments
from agentkit._strict import check_foreign_schema, clean_schema, drop_default_nulls, to_strict
from agentkit._tool_base import BaseTool

__all__ = ["MCPTool", "result_text", "result_value"]

MAX_DESCRIPTION = 4_000
"""Characters of a server's tool description kept (it goes out with every request)."""
_BACKSTOP_SECONDS = 5.0
"""How much longer than the tool's timeout the SDK waits before it gives up on the call."""

Caller = Callable[[str, dict[str, Any], float | None], Awaitable[CallToolResult]]


class MCPTool(BaseTool):
    """One tool of an MCP server, called through the server's session.

    The sibling of function tools under `BaseTool`: the server's schema instead of a Python
    signature, a call sent to the server instead of a function run.
    """

    def __init__(
        self,
        remote: RemoteTool,
        caller: Caller,
        *,
        name: str,
        timeout: float | None,
        max_result_chars: int | None,
        requires_approval: bool,
    ) -> None:
        self.remote_name: Any = remote.name
        self._caller = caller
        self.input_schema: dict[str, Any] = dict(remote.input_schema)
        if (problem := check_foreign_schema(self.input_schema)) is not None:
            raise ToolDefinitionError(f"{name}: the server's input schema is refused: {problem}")
        description = remote.description or ""
        if len(description) > MAX_DESCRIPTION:  # sent with every request: bounded
            cut = len(description) - MAX_DESCRIPTION
            description = f"{description[:MAX_DESCRIPTION]}… [{cut} characters cut]"
        try:
            self._validator = Draft202012Validator(self.input_schema)
            Draft202012Validator.check_schema(self.input_schema)
            self._plain = clean_schema(self.input_schema)
            strict, problems = to_strict(self._plain)
        except SchemaError as error:
            raise ToolDefinitionError(
                f"{name}: the server's input schema is not valid JSON Schema ({error.message})"
            ) from None
        except (KeyError, TypeError, ValueError, RecursionError) as error:
            raise ToolDefinitionError(
                f"{name}: the server's input schema cannot be used ({type(error).__name__})"
            ) from None
        self._strict_schema = strict
        self._problems = tuple(problems)
        super().__init__(
            name=name,
            description=description,
            strict=not problems,
            timeout=timeout,
            max_result_chars=max_result_chars,
            max_retries=None,
            requires_approval=requires_approval,
            is_async=True,
            takes_context=False,
        )
        self._fix()

    @property
    def parameters(self) -> dict[str, Any]:
        """The schema the model sees: the server's, in strict form where possible."""
        return self._strict_schema if self.strict else self._plain

    @property
    def strict_problems(self) -> tuple[str, ...]:
        """Why strict mode is impossible for this tool (empty when it is possible)."""
        return self._problems

    def validate(self, raw_arguments: str) -> dict[str, Any]:
        """Check the model's arguments against the server's input schema.

        Raises:
            ToolArgumentsError: They do not validate; the message is fit for the model.
        """
        data = drop_default_nulls(parse_arguments(raw_arguments, self.name), self.input_schema)
        problems = sorted(self._validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if problems:
            details = [
                {"loc": tuple(p.absolute_path), "msg": _message(p), "type": str(p.validator)}
                for p in problems
            ]
            raise ToolArgumentsError(describe_errors(details), tool_name=self.name, errors=details)
        return dict(data)

    def call(self, arguments: Mapping[str, Any], context: Any = None) -> Any:
        """Send the call to the server (an awaitable of its text, or its text and media)."""
        return self._call(**arguments)

    async def _call(self, **arguments: Any) -> str | list[Any]:
        # The run's own timeout (the dispatcher's, which names it) cancels the call first; the
        # SDK's read timeout, a little later, is a backstop that also ends the request there.
        backstop = None if self.timeout is None else self.timeout + _BACKSTOP_SECONDS
        result = await self._caller(self.remote_name, dict(arguments), backstop)
        if result.is_error:
            text = result_text(result)
            raise ToolError(text or "the tool reported an error", tool_name=self.name)
        return result_value(result)

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, remote={self.remote_name!r}, strict={self.strict})"


def _message(problem: Any) -> str:
    if problem.validator == "required":
        return str(problem.message).replace("is a required property", "is missing")
    if problem.validator == "additionalProperties":
        return "unexpected argument: " + str(problem.message).split("(")[-1].rstrip(")")
    return str(problem.message)[:200]


def result_text(result: CallToolResult) -> str:
    """What the model is told of a result: its text parts, or its structured content."""
    parts = [_block_text(block) for block in result.content]
    text = "\n".join(part for part in parts if part)
    if not text and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))
    return text


def result_value(result: CallToolResult) -> str | list[Any]:
    """The result as a tool's return value: its text, or its text and media parts in order."""
    if not any(getattr(b, "type", "") in _MEDIA_BLOCKS for b in result.content):
        return result_text(result)
    value: list[Any] = []
    for block in result.content:
        part = _media(block)
        if part is not None:
            value.append(part)
        elif text := _block_text(block):
            value.append(text)
    return value


_MEDIA_BLOCKS = frozenset({"image", "audio", "resource"})
_KINDS: dict[str, type[Image] | type[Audio] | type[Document]] = {
    "image": Image, "audio": Audio, "resource": Document
}  # fmt: skip


def _media(block: Any) -> Image | Audio | Document | None:
    """The part a block carries, when it is a valid image, audio or PDF; else None."""
    kind = getattr(block, "type", "")
    if kind == "resource":
        data = getattr(block.resource, "blob", None)
    elif kind in ("image", "audio"):
        data = block.data
    else:
        return None
    record = _KINDS[kind]
    if not isinstance(data, str) or len(data) > MEDIA_LIMITS[record.kind] * 4 // 3 + 4:
        return None  # too big to decode: named, not sent
    try:
        content = base64.b64decode(data, validate=True)
        made: Image | Audio | Document = record.from_bytes(content)
    except (ValueError, ConfigurationError):
        return None  # not base64, or not a format models take
    return made


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        size = len(base64.b64decode(block.data, validate=False)) if block.data else 0
        return f"[{kind}: {block.mime_type}, {size} bytes, not shown]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return str(text)
        return f"[resource {resource.uri} ({resource.mime_type or 'binary'}), not shown]"
    if kind == "resource_link":
        return f"[resource link: {block.uri}]"
    return ""
