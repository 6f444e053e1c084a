"""Layer 4 (run loop): an extraction's values: partial ones while it streams, canonical ones.

`PartialBuilder`: objects built field by field from partial JSON while an extraction streams.
`canonical`: equal values as equal text, for voting among candidates. Used by `_extract` only
(how the output type travels is `_output.OutputSpec`, shared with agents).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic_core import from_json, to_jsonable_python
from typing_extensions import is_typeddict

__all__ = ["PartialBuilder", "canonical"]


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
