"""Layer 4 (run loop): structured output: how the model delivers it, and how it is checked.

`str` output is the final message's text. Any other output type is delivered either through a
final-output tool (the default: the model calls `final_result` with the value as arguments)
or through `response_format: json_schema` (the final message's text is the JSON value).
Types that are not objects (`int`, `list[X]`, unions) are wrapped as `{"result": value}`,
because a tool's arguments and a strict schema's root must be objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model
from pydantic_core import from_json
from typing_extensions import is_typeddict

from ._exceptions import ToolArgumentsError
from ._tool import Tool, ToolDefinition
from .models._base import JsonSchemaFormat

__all__ = ["OUTPUT_TOOL_NAME", "OutputMode", "OutputSpec"]

OUTPUT_TOOL_NAME = "final_result"
OutputMode = Literal["tool", "json_schema"]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How one run gets and checks its output."""

    output_type: Any
    mode: OutputMode
    tool: Tool[..., Any] | None
    """The final-output tool (structured output in tool mode)."""
    wrapped: bool
    """The value travels as `{"result": value}`."""

    @classmethod
    def for_type(cls, output_type: Any, mode: OutputMode) -> OutputSpec:
        """Prepare the output tool (schema built once) for `output_type`."""
        if output_type is str:
            return cls(output_type, mode, None, wrapped=False)
        wrapped = not _is_object_type(output_type)
        carrier = _wrapper(output_type) if wrapped else output_type
        tool = Tool.from_model(
            carrier,
            name=OUTPUT_TOOL_NAME,
            description="Give the final answer. Call this once you have the complete answer.",
        )
        return cls(output_type, mode, tool, wrapped)

    def definition(self) -> ToolDefinition | None:
        """The final-output tool as the model sees it, marked `kind="output"`."""
        if self.tool is None:
            return None
        return dataclasses.replace(self.tool.definition(), kind="output")

    @property
    def is_text(self) -> bool:
        """Plain text output: the final message is the answer."""
        return self.tool is None

    def response_format(self) -> JsonSchemaFormat | None:
        """The `response_format` to send in json_schema mode."""
        if self.tool is None or self.mode != "json_schema":
            return None
        return JsonSchemaFormat(
            name=OUTPUT_TOOL_NAME, schema=self.tool.parameters, strict=self.tool.strict or None
        )

    def parse(self, raw_json: str) -> Any:
        """Validate the model's JSON (tool arguments or message text) into the output value.

        Raises:
            ToolArgumentsError: It is not valid; the message is fit to send back.
        """
        assert self.tool is not None
        value = self.tool.call(self.tool.validate(raw_json))
        if self.wrapped:
            return value.result
        return value

    def parse_text(self, text: str | None) -> Any:
        """Validate a json_schema-mode answer (the message text)."""
        if not text:
            raise ToolArgumentsError(
                "the answer was empty; reply with JSON that follows the schema",
                tool_name=OUTPUT_TOOL_NAME,
            )
        try:
            from_json(text)
        except ValueError as error:
            raise ToolArgumentsError(
                f"the answer is not valid JSON ({error})", tool_name=OUTPUT_TOOL_NAME
            ) from None
        return self.parse(text)


def _is_object_type(output_type: Any) -> bool:
    if not isinstance(output_type, type):
        return False
    return (
        issubclass(output_type, BaseModel)
        or dataclasses.is_dataclass(output_type)
        or is_typeddict(output_type)
    )


def _wrapper(output_type: Any) -> type[BaseModel]:
    return create_model("FinalResult", result=(output_type, ...))


def validation_message(error: ToolArgumentsError | ValidationError) -> str:
    """The text sent back to the model when its output did not validate."""
    return f"{error}. Fix the problems and give the final answer again."
