"""Layer 5 (edges): `--schema` on the command line: a type to extract or to answer with.

Three forms, as `llm --schema` users expect:

- concise fields: `"name, age int, bio: a short bio"` (comma- or newline-separated; each
  field is `NAME [TYPE][: DESCRIPTION]`, TYPE one of str (the default), int, float, bool);
- a JSON Schema file (`person.schema.json`): an object's properties become the fields;
- a Python type: `module:Model` or `path/to/file.py:Model`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, Field, create_model

from agentkit._loading import LoadError, load_object

__all__ = ["SchemaError", "schema_type"]

_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}
_JSON_TYPES: dict[str, Any] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict,
}  # fmt: skip
_OBJECT_SPEC = re.compile(r"[\w./\\-]+:[A-Za-z_]\w*")
_FIELD = re.compile(r"(?P<name>[A-Za-z]\w*)(?:\s+(?P<type>\w+))?\s*(?::\s*(?P<about>.*))?")


class SchemaError(LoadError):
    """A `--schema` value cannot be made into a type (the message says which part)."""


def schema_type(spec: str) -> Any:
    """The type a `--schema` value names (see the module docs).

    Raises:
        SchemaError: The value is none of the three forms, or a field is malformed.
    """
    text = spec.strip()
    if text.endswith(".json") and Path(text).is_file():
        return _from_json_schema(Path(text))
    if _OBJECT_SPEC.fullmatch(text):
        return load_object(text)
    return _from_fields(text)


def _from_fields(text: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for part in (p.strip() for p in re.split(r"[,\n]", text)):
        if not part:
            continue
        found = _FIELD.fullmatch(part)
        if found is None:
            raise SchemaError(
                f"--schema: {part!r} is not a field; write NAME [TYPE][: DESCRIPTION], "
                'e.g. "name, age int, bio: a short bio"'
            )
        kind = found["type"] or "str"
        if kind not in _TYPES:
            raise SchemaError(
                f"--schema: field {found['name']!r} has type {kind!r}; use one of "
                f"{', '.join(_TYPES)}"
            )
        about = found["about"].strip() if found["about"] else None
        fields[found["name"]] = (_TYPES[kind], Field(description=about))
    if not fields:
        raise SchemaError('--schema: give at least one field, e.g. "name, age int"')
    return create_model("Answer", **fields)


def _from_json_schema(path: Path) -> type[BaseModel]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SchemaError(f"--schema {path}: not a readable JSON file ({error})") from None
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if schema.get("type", "object") != "object" or not isinstance(properties, dict):
        raise SchemaError(f"--schema {path}: give a JSON Schema of an object with properties")
    required = set(schema.get("required", properties))
    fields: dict[str, Any] = {}
    for name, spec in properties.items():
        declared = spec.get("type") if isinstance(spec, dict) else None
        kind = _JSON_TYPES.get(declared, Any) if isinstance(declared, str) else Any
        about = spec.get("description") if isinstance(spec, dict) else None
        if name in required:
            fields[str(name)] = (kind, Field(description=about))
        else:
            fields[str(name)] = (Optional[kind], Field(None, description=about))  # noqa: UP045
    return create_model(str(schema.get("title") or "Answer"), **fields)
