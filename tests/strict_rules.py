"""A checker for OpenAI's strict-mode schema rules (see tests/data/spec/README.md and its source)."""

from __future__ import annotations

from typing import Any

ALLOWED_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum",
    "$ref", "$defs", "description", "pattern", "format", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "minItems", "maxItems",
}  # fmt: skip
ALLOWED_FORMATS = {
    "date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
}  # fmt: skip


def strict_violations(schema: dict[str, Any]) -> list[str]:
    """Every way `schema` breaks the strict-mode rules (empty when it follows them)."""
    problems: list[str] = []
    if schema.get("type") != "object" or "anyOf" in schema:
        problems.append("root: must be an object, not anyOf")
    _check(schema, "root", problems)
    for name, definition in schema.get("$defs", {}).items():
        _check(definition, f"$defs.{name}", problems)
    return problems


def _check(node: dict[str, Any], path: str, problems: list[str]) -> None:
    for key in node:
        if key not in ALLOWED_KEYWORDS:
            problems.append(f"{path}: keyword {key!r} not allowed")
    if "$ref" in node and len(node) > 1:
        problems.append(f"{path}: $ref has siblings {sorted(set(node) - {'$ref'})}")
    if "format" in node and node["format"] not in ALLOWED_FORMATS:
        problems.append(f"{path}: format {node['format']!r} not allowed")
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "object" in types:
        if node.get("additionalProperties") is not False:
            problems.append(f"{path}: object without additionalProperties: false")
        if set(node.get("required", ())) != set(node.get("properties", {})):
            problems.append(f"{path}: not every property is required")
        for name, sub in node.get("properties", {}).items():
            _check(sub, f"{path}.{name}", problems)
    if "array" in types:
        if not node.get("items"):
            problems.append(f"{path}: array without items")
        else:
            _check(node["items"], f"{path}[]", problems)
    for i, option in enumerate(node.get("anyOf", ())):
        _check(option, f"{path}|{i}", problems)
    if not ({"type", "anyOf", "$ref", "enum"} & node.keys()):
        problems.append(f"{path}: no type")
