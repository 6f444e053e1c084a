"""Layer 2 (tool definition): make JSON schemas fit OpenAI's strict mode, and read nulls back.

Strict mode (structured outputs) accepts a subset of JSON Schema: every object closed with
`additionalProperties: false`, every property listed in `required`, a short list of keywords.
`to_strict` rewrites a pydantic-generated schema into that subset, or says which parameter
makes it impossible.

A property that had a default becomes required *and nullable*: the model answers `null` to mean
"use the default". `drop_default_nulls` removes those nulls from the parsed arguments before
validation, so the Python default applies. It is applied in non-strict mode too, where it is
harmless and spares a retry when a model sends `null` for an optional parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["check_foreign_schema", "clean_schema", "drop_default_nulls", "to_strict"]

JsonSchema = dict[str, Any]

_STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
# Constraints strict mode does not accept. Dropping them from what the model sees is safe:
# agentkit validates every call against the full schema on its side anyway.
_DROPPED_KEYWORDS = frozenset(
    {
        "title",
        "default",
        "examples",
        "minLength",
        "maxLength",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "discriminator",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
    }
)
_IMPOSSIBLE_KEYWORDS = ("not", "if", "then", "else", "dependentRequired", "dependentSchemas")
_TYPED_KEYS = frozenset({"type", "anyOf", "oneOf", "allOf", "$ref", "enum", "const"})


MAX_SCHEMA_DEPTH = 32
"""Nesting a schema from outside (an MCP server) may have; pydantic's own stay far below."""
MAX_SCHEMA_NODES = 5_000
_LOCAL_REF = re.compile(r"#/(\$defs|definitions)/([^/]+)")


def check_foreign_schema(schema: Any) -> str | None:
    """Why a schema from outside cannot be used safely, or None when it can.

    The rewriting and validation here walk a schema recursively and follow `$ref`s: a
    hostile server's schema could make them recurse past the interpreter's limit, spin on a
    reference cycle, or fail on a reference to nothing. This walk is iterative and bounded:
    depth, size, and every `$ref` pointing at an existing local definition, with no chain of
    bare references that loops.
    """
    if not isinstance(schema, dict):
        return "the input schema is not a JSON object"
    defs = {**_mapping(schema.get("definitions")), **_mapping(schema.get("$defs"))}
    stack: list[tuple[Any, int]] = [(schema, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_SCHEMA_DEPTH:
            return f"it is nested more than {MAX_SCHEMA_DEPTH} levels deep"
        if nodes > MAX_SCHEMA_NODES:
            return f"it has more than {MAX_SCHEMA_NODES} parts"
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None and (problem := _bad_ref(ref, defs)):
                return problem
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
    return _ref_cycle(defs)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bad_ref(ref: Any, defs: Mapping[str, Any]) -> str | None:
    found = _LOCAL_REF.fullmatch(ref) if isinstance(ref, str) else None
    if found is None:
        return f"$ref {str(ref)[:80]!r} is not a local definition (#/$defs/NAME)"
    if found[2] not in defs:
        return f"$ref {ref[:80]!r} names no definition"
    return None


def _ref_cycle(defs: Mapping[str, Any]) -> str | None:
    """A definition that is only a reference, through a chain of them, back to itself."""
    for start in defs:
        seen, name = {start}, start
        while isinstance(defs.get(name), dict) and isinstance(defs[name].get("$ref"), str):
            found = _LOCAL_REF.fullmatch(defs[name]["$ref"])
            if found is None:
                break
            name = found[2]
            if name in seen:
                return f"the definitions {', '.join(sorted(seen))} only refer to each other"
            seen.add(name)
    return None


def clean_schema(schema: JsonSchema) -> JsonSchema:
    """Remove `title` annotations: they cost tokens and tell the model nothing new."""
    cleaned: JsonSchema = _map_subschemas(schema, clean_schema, drop=("title",))
    return cleaned


def to_strict(schema: JsonSchema) -> tuple[JsonSchema, list[str]]:
    """Rewrite `schema` for strict mode.

    Returns:
        The strict schema, and a list of problems (each naming the top-level property and the
        reason) that make strict mode impossible. Where the list is not empty, the schema
        returned must not be used.
    """
    converter = _StrictConverter(schema.get("$defs", {}))
    root = {key: value for key, value in schema.items() if key != "$defs"}
    strict = converter.convert(root, where="")
    if converter.defs:
        strict["$defs"] = converter.defs
    return strict, converter.problems


class _StrictConverter:
    def __init__(self, defs: Mapping[str, JsonSchema]) -> None:
        self.source_defs = defs
        self.defs: dict[str, JsonSchema] = {}
        self.problems: list[str] = []
        self._recursive = {name for name in defs if _refers_to(defs[name], name, defs, set())}

    def problem(self, where: str, reason: str) -> None:
        subject = f"parameter {where.split('.')[0]!r}" if where else "the schema"
        self.problems.append(f"{subject}: {reason}" + (f" (at {where})" if "." in where else ""))

    def convert(self, node: JsonSchema, where: str) -> JsonSchema:
        node = self._resolve_wrappers(node, where)
        if not (_TYPED_KEYS & node.keys()):
            self.problem(where, "a value of any type (Any, or no annotation) has no schema")
        for keyword in _IMPOSSIBLE_KEYWORDS:
            if keyword in node:
                self.problem(where, f"the keyword {keyword!r} is not allowed")
        out: JsonSchema = {}
        for key, value in node.items():
            if key in _DROPPED_KEYWORDS or key in _IMPOSSIBLE_KEYWORDS:
                continue
            if key == "format" and value not in _STRICT_FORMATS:
                continue
            out[key] = value
        if node.get("default") is not None:  # the default moves into words the model reads
            note = f"null means {_default_text(node)}"
            description = node.get("description")
            out["description"] = f"{description} ({note})" if description else f"N{note[1:]}."
        if "const" in out:
            out["enum"] = [out.pop("const")]
        if "anyOf" in out:
            out["anyOf"] = [self.convert(option, where) for option in _flatten_any_of(out["anyOf"])]
        if "$ref" in out:
            self._convert_definition(out["$ref"], where)
        self._convert_object(out, where)
        self._convert_array(out, where)
        return out

    def _resolve_wrappers(self, node: JsonSchema, where: str) -> JsonSchema:
        node = dict(node)
        if "oneOf" in node:  # pydantic's discriminated unions; strict mode knows only anyOf
            node["anyOf"] = node.pop("oneOf")
        all_of = node.pop("allOf", None)
        if all_of is not None:
            if len(all_of) != 1:
                self.problem(where, "'allOf' with several schemas is not allowed")
            else:
                node = {**all_of[0], **node}
        ref = node.get("$ref")
        if ref is not None and len(node) > 1:
            # A $ref must stand alone in strict mode: inline the definition beside its
            # annotations, unless it is recursive (then the annotations go).
            name = _def_name(ref)
            if name in self._recursive:
                node = {"$ref": ref}
            else:
                siblings = {key: value for key, value in node.items() if key != "$ref"}
                node = {**self.source_defs[name], **siblings}
        return node

    def _convert_definition(self, ref: str, where: str) -> None:
        name = _def_name(ref)
        if name in self.defs:
            return
        self.defs[name] = {}  # placeholder: stops recursion through self-references
        self.defs[name] = self.convert(self.source_defs[name], where)

    def _convert_object(self, out: JsonSchema, where: str) -> None:
        if out.get("type") != "object":
            return
        extra = out.get("additionalProperties")
        properties: dict[str, JsonSchema] = out.get("properties", {})
        if extra not in (None, False) or (not properties and extra is None):
            self.problem(where, "a free-form object (a dict, or **kwargs) has no fixed keys")
            return
        required = set(out.get("required", ()))
        converted = {}
        for name, prop in properties.items():
            path = f"{where}.{name}" if where else name
            strict_prop = self.convert(prop, path)
            if name not in required and not _accepts_null(prop, self.source_defs):
                strict_prop = _nullable(strict_prop)
            converted[name] = strict_prop
        out["properties"] = converted
        out["required"] = list(properties)
        out["additionalProperties"] = False

    def _convert_array(self, out: JsonSchema, where: str) -> None:
        if out.get("type") != "array":
            return
        prefix = out.pop("prefixItems", None)
        if prefix is not None:
            # Fixed-length tuples: strict mode has no prefixItems. Offer each position's type;
            # the length bounds stay, and validation on our side checks each position.
            options = _unique([self.convert(item, where) for item in prefix])
            out["items"] = options[0] if len(options) == 1 else {"anyOf": options}
            return
        items = out.get("items")
        if not items:
            self.problem(where, "a list without an item type (use list[X])")
            return
        out["items"] = self.convert(items, where)


def drop_default_nulls(value: Any, schema: JsonSchema) -> Any:
    """Remove `null` values the model sent for properties that have a default.

    Only properties that are optional in `schema` and do not accept null themselves are
    touched; `null` for a property whose type allows `None` is kept as `None`.
    """
    return _NullDropper(schema.get("$defs", {})).visit(value, schema)


class _NullDropper:
    def __init__(self, defs: Mapping[str, JsonSchema]) -> None:
        self.defs = defs

    def visit(self, value: Any, node: JsonSchema) -> Any:
        while "$ref" in node:
            node = self.defs[_def_name(node["$ref"])]
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, ()):
                resolved = self._resolve(option)
                if _json_type_matches(value, resolved):
                    return self.visit(value, resolved)
        if isinstance(value, dict):
            return self._visit_object(value, node)
        if isinstance(value, list):
            return self._visit_array(value, node)
        return value

    def _resolve(self, node: JsonSchema) -> JsonSchema:
        while "$ref" in node:
            node = self.defs[_def_name(node["$ref"])]
        return node

    def _visit_object(self, value: dict[str, Any], node: JsonSchema) -> dict[str, Any]:
        properties: dict[str, JsonSchema] = node.get("properties", {})
        required = node.get("required", ())
        extra = node.get("additionalProperties")
        result = {}
        for key, item in value.items():
            prop = properties.get(key)
            if prop is None:
                result[key] = self.visit(item, extra) if isinstance(extra, dict) else item
            elif item is None and key not in required and not _accepts_null(prop, self.defs):
                continue
            else:
                result[key] = self.visit(item, prop)
        return result

    def _visit_array(self, value: list[Any], node: JsonSchema) -> list[Any]:
        prefix = node.get("prefixItems")
        if prefix is not None:
            return [
                self.visit(item, prefix[i]) if i < len(prefix) else item
                for i, item in enumerate(value)
            ]
        items = node.get("items")
        if isinstance(items, dict) and items:
            return [self.visit(item, items) for item in value]
        return value


def _json_type_matches(value: Any, node: JsonSchema) -> bool:
    declared = node.get("type")
    if declared is None:
        return False
    types = declared if isinstance(declared, list) else [declared]
    if isinstance(value, dict):
        return "object" in types
    if isinstance(value, list):
        return "array" in types
    return False  # scalars need no visiting


def _accepts_null(node: JsonSchema, defs: Mapping[str, JsonSchema]) -> bool:
    while "$ref" in node:
        node = defs[_def_name(node["$ref"])]
    declared = node.get("type")
    if declared == "null" or (isinstance(declared, list) and "null" in declared):
        return True
    if None in node.get("enum", ()) or ("const" in node and node["const"] is None):
        return True
    options = [*node.get("anyOf", ()), *node.get("oneOf", ())]
    return any(_accepts_null(option, defs) for option in options)


def _nullable(node: JsonSchema) -> JsonSchema:
    declared = node.get("type")
    if isinstance(declared, str) and not ({"anyOf", "$ref"} & node.keys()):
        node = {**node, "type": [declared, "null"]}
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        return node
    if "anyOf" in node:
        return {**node, "anyOf": [*node["anyOf"], {"type": "null"}]}
    description = node.get("description")
    inner = {key: value for key, value in node.items() if key != "description"}
    wrapped: JsonSchema = {"anyOf": [inner, {"type": "null"}]}
    if description is not None:
        wrapped["description"] = description
    return wrapped


def _flatten_any_of(options: list[JsonSchema]) -> list[JsonSchema]:
    flat: list[JsonSchema] = []
    for option in options:
        if set(option) == {"anyOf"}:
            flat.extend(_flatten_any_of(option["anyOf"]))
        else:
            flat.append(option)
    return flat


def _refers_to(node: Any, name: str, defs: Mapping[str, JsonSchema], seen: set[str]) -> bool:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = _def_name(ref)
            if target == name:
                return True
            if target not in seen:
                seen.add(target)
                if _refers_to(defs.get(target, {}), name, defs, seen):
                    return True
        return any(_refers_to(value, name, defs, seen) for value in node.values())
    if isinstance(node, list):
        return any(_refers_to(item, name, defs, seen) for item in node)
    return False


def _map_subschemas(node: Any, visit: Any, drop: tuple[str, ...]) -> Any:
    if not isinstance(node, dict):
        return node
    out: JsonSchema = {}
    for key, value in node.items():
        if key in drop:
            continue
        if key in ("properties", "$defs"):
            out[key] = {name: visit(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            out[key] = [visit(sub) for sub in value]
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = visit(value)
        else:
            out[key] = value
    return out


def _default_text(node: JsonSchema) -> str:
    return f"the default, {json.dumps(node['default'], ensure_ascii=False)}"


def _def_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _unique(schemas: list[JsonSchema]) -> list[JsonSchema]:
    seen: list[JsonSchema] = []
    for schema in schemas:
        if schema not in seen:
            seen.append(schema)
    return seen
