"""Layer 4 (run loop): structured output: how the model delivers it, and how it is checked.

One specification for agents and extraction. `str` output is the final message's text. Any
other output type is delivered either through output tools (the default: the model calls a
tool whose arguments are the value) or through `response_format: json_schema` (the final
message's text is the JSON value). A tool's arguments and a strict schema's root must be
objects, so the value travels in one of three shapes:

- an object type (pydantic model, dataclass, TypedDict): as itself;
- `list[X]`: as `{"items": [...]}`;
- anything else (`int`, `Literal`, `X | None`, a union in json_schema mode): as
  `{"result": value}`.

A union of object types in tool mode is one output tool per member: the model picks the
member by calling its tool.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError, create_model
from pydantic_core import from_json
from typing_extensions import is_typeddict

from ._exceptions import ToolArgumentsError
from ._tool import Tool, ToolDefinition
from .models._base import JsonSchemaFormat, ToolChoice, UseTool

__all__ = ["OUTPUT_DESCRIPTION", "OUTPUT_TOOL_NAME", "OutputMode", "OutputSpec", "type_name"]

OUTPUT_TOOL_NAME = "final_result"
OUTPUT_DESCRIPTION = "Give the final answer. Call this once you have the complete answer."
OutputMode = Literal["tool", "json_schema"]


@dataclass(frozen=True, slots=True)
class _Carrier:
    """One output tool, and the field its value travels in (None: the arguments are it)."""

    tool: Tool[..., Any]
    field: str | None

    def parse(self, raw_json: str) -> Any:
        value = self.tool.call(self.tool.validate(raw_json))
        return value if self.field is None else getattr(value, self.field)


@dataclass(frozen=True, slots=True, eq=False)
class OutputSpec:
    """How one run (or extraction) gets and checks its output."""

    output_type: Any
    mode: OutputMode
    carriers: Mapping[str, _Carrier]
    """The output tools by name (one, or one per union member in tool mode; none for text)."""
    definitions: tuple[ToolDefinition, ...]
    """What the model is sent in tool mode, each marked `kind="output"` (none otherwise)."""

    @classmethod
    def for_type(
        cls,
        output_type: Any,
        mode: OutputMode,
        *,
        name: str | None = OUTPUT_TOOL_NAME,
        description: str | None = OUTPUT_DESCRIPTION,
        text: bool = True,
    ) -> OutputSpec:
        """Prepare the output tools (schemas built once) for `output_type`.

        `name`: the tool's name (a union member's tool is `{name}_{Member}`); None names each
        tool after its type (`Invoice`, `InvoiceList`, the member's name). `description`:
        the tools' description; None takes the type's docstring. `text`: `str` output is the
        final message's text (an agent's); False sends it through a tool like any other type.
        """
        if output_type is str and text:
            return cls(output_type, mode, {}, ())
        members = _object_members(output_type) if mode == "tool" else []
        if members:
            made = [
                _carrier(member, f"{name}_{type_name(member)}" if name else None, description)
                for member in members
            ]
        else:
            made = [_carrier(output_type, name, description)]
        carriers = {each.tool.name: each for each in made}
        definitions = tuple(
            dataclasses.replace(each.tool.definition(), kind="output") for each in made
        )
        return cls(output_type, mode, carriers, definitions if mode == "tool" else ())

    @property
    def is_text(self) -> bool:
        """Plain text output: the final message is the answer."""
        return not self.carriers

    @property
    def names(self) -> frozenset[str]:
        """The output tools' names."""
        return frozenset(self.carriers)

    def schemas(self) -> list[dict[str, Any]]:
        """Each output tool's parameters (the JSON schema the value travels in)."""
        return [each.tool.parameters for each in self.carriers.values()]

    def tool_choice(self) -> ToolChoice | None:
        """The output tool forced (tool mode): by name when there is one, else `required`."""
        if self.mode != "tool" or not self.carriers:
            return None
        return UseTool(next(iter(self.carriers))) if len(self.carriers) == 1 else "required"

    def calling_hint(self) -> str:
        """How the model is told to answer, when it answered with text in tool mode."""
        names = sorted(self.carriers)
        if len(names) == 1:
            return f"calling the {names[0]} tool"
        return f"calling one of the tools {', '.join(names)}"

    def response_format(self) -> JsonSchemaFormat | None:
        """The `response_format` to send in json_schema mode."""
        if self.mode != "json_schema" or not self.carriers:
            return None
        tool = next(iter(self.carriers.values())).tool
        return JsonSchemaFormat(name=tool.name, schema=tool.parameters, strict=tool.strict or None)

    def parse(self, raw_json: str, tool_name: str | None = None) -> Any:
        """Validate the model's JSON (tool arguments or message text) into the output value.

        `tool_name`: the output tool called (needed when there are several).

        Raises:
            ToolArgumentsError: It is not valid; the message is fit to send back.
        """
        if tool_name is None:
            carrier = next(iter(self.carriers.values()))
        elif (carrier := self.carriers.get(tool_name)) is None:  # type: ignore[assignment]
            raise ToolArgumentsError(f"unknown tool {tool_name!r}", tool_name=tool_name)
        return carrier.parse(raw_json)

    def parse_text(self, text: str | None) -> Any:
        """Validate a json_schema-mode answer (the message text)."""
        name = next(iter(self.carriers))
        if not text:
            raise ToolArgumentsError(
                "the answer was empty; reply with JSON that follows the schema", tool_name=name
            )
        try:
            from_json(text)
        except ValueError as error:
            raise ToolArgumentsError(
                f"the answer is not valid JSON ({error})", tool_name=name
            ) from None
        return self.parse(text)


def _carrier(output_type: Any, name: str | None, description: str | None) -> _Carrier:
    if _is_object_type(output_type):
        tool_name = name or type_name(output_type)
        return _Carrier(Tool.from_model(output_type, name=tool_name, description=description), None)
    field = "items" if get_origin(output_type) is list else "result"
    if name is not None:
        tool_name = name
    elif field == "items":
        tool_name = f"{type_name(get_args(output_type)[0])}List"
    else:
        tool_name = type_name(output_type)
    wrapper = create_model(tool_name, **{field: (output_type, ...)})  # type: ignore[call-overload]
    return _Carrier(Tool.from_model(wrapper, name=tool_name, description=description), field)


def _object_members(output_type: Any) -> list[Any]:
    """A union's members when each is an object type (one output tool each), else none."""
    if get_origin(output_type) not in (Union, types.UnionType):
        return []
    members = get_args(output_type)
    return list(members) if all(_is_object_type(m) for m in members) else []


def _is_object_type(output_type: Any) -> bool:
    if not isinstance(output_type, type):
        return False
    return (
        issubclass(output_type, BaseModel)
        or dataclasses.is_dataclass(output_type)
        or is_typeddict(output_type)
    )


def type_name(output_type: Any) -> str:
    """The name of a type, for tool names and messages (`AOrNone` for `A | None`)."""
    if output_type is type(None):
        return "None"
    if get_origin(output_type) in (Union, types.UnionType):
        return "Or".join(type_name(member) for member in get_args(output_type))
    return str(getattr(output_type, "__name__", "Output"))


def validation_message(error: ToolArgumentsError | ValidationError) -> str:
    """The text sent back to the model when its output did not validate."""
    return f"{error}. Fix the problems and give the final answer again."
