"""Layer 4 (run loop): how an extraction's output type travels, and its partial values.

`ExtractionTarget`: one tool per union member, a list wrapped in an object (`{"items": [...]}`),
a tool call parsed back into the output type. `PartialBuilder`: objects built field by field
from partial JSON while an extraction streams. Used by `_extract` only.
"""

from __future__ import annotations

import json
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, create_model
from pydantic_core import from_json, to_jsonable_python
from typing_extensions import is_typeddict

from ._exceptions import ToolArgumentsError
from ._tool import Tool
from .models._base import JsonSchemaFormat

__all__ = ["ExtractionTarget", "PartialBuilder", "canonical", "type_name", "union_members"]


class ExtractionTarget:
    """How one output type travels: one tool per union member, lists wrapped in an object."""

    def __init__(self, output_type: Any, name: str | None) -> None:
        self.output_type = output_type
        self.is_list = get_origin(output_type) is list
        members = union_members(output_type)
        if self.is_list:
            # Tool arguments must be an object: many records travel as {"items": [...]}.
            tool_name = name or f"{type_name(get_args(output_type)[0])}List"
            wrapper = create_model(tool_name, items=(output_type, ...))
            made = [Tool.from_model(wrapper, name=tool_name)]
        elif members:
            made = [Tool.from_model(member, name=type_name(member)) for member in members]
        else:
            made = [Tool.from_model(output_type, name=name or type_name(output_type))]
        self.tools: dict[str, Tool[..., Any]] = {each.name: each for each in made}

    def parse(self, tool_name: str, raw: str) -> Any:
        tool = self.tools.get(tool_name)
        if tool is None:
            raise ToolArgumentsError(f"unknown tool {tool_name!r}", tool_name=tool_name)
        value = tool.call(tool.validate(raw))
        return value.items if self.is_list else value

    def json_schema_format(self) -> JsonSchemaFormat:
        (tool,) = self.tools.values()
        return JsonSchemaFormat(name=tool.name, schema=tool.parameters, strict=tool.strict or None)


def union_members(output_type: Any) -> list[Any]:
    if get_origin(output_type) in (Union, types.UnionType):
        return [m for m in get_args(output_type) if m is not type(None)]
    return []


def type_name(output_type: Any) -> str:
    return str(getattr(output_type, "__name__", "Output"))


def canonical(value: Any) -> str:
    """The same text for equal values, whatever their key order (for voting)."""
    return json.dumps(to_jsonable_python(value), sort_keys=True)


class PartialBuilder:
    """Builds partial objects from partial JSON, field by field."""

    def __init__(self, output_type: Any) -> None:
        self.output_type = output_type
        self.last: Any = None
        fields = getattr(output_type, "model_fields", None)
        self.field_adapters: dict[str, TypeAdapter[Any]] = {}
        if fields is not None:
            for name, info in fields.items():
                self.field_adapters[info.alias or name] = TypeAdapter(info.rebuild_annotation())
        self.typed_dict = TypeAdapter(output_type) if is_typeddict(output_type) else None

    def update(self, buffer: str) -> Any:
        try:
            data = from_json(buffer, allow_partial="trailing-strings")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        built = self._build(data)
        if built is None or _snapshot(built) == _snapshot(self.last):
            return None
        self.last = built
        return built

    def _build(self, data: dict[str, Any]) -> Any:
        if self.typed_dict is not None:
            try:
                return self.typed_dict.validate_python(data, experimental_allow_partial=True)
            except Exception:
                return None
        if not self.field_adapters:
            return None
        values = {}
        for key, value in data.items():
            adapter = self.field_adapters.get(key)
            if adapter is None:
                continue
            try:
                values[key] = adapter.validate_python(value, experimental_allow_partial=True)
            except Exception:  # this field is not complete enough yet
                continue
        return self.output_type.model_construct(**values) if values else None


def _snapshot(value: Any) -> str:
    return repr(value.__dict__ if isinstance(value, BaseModel) else value)
