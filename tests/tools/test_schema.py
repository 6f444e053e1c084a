"""Signatures become JSON schemas: every supported type, strict mode, and snapshots of the wire.

Update the snapshots after an intended change with `AGENTKIT_UPDATE_SNAPSHOTS=1 pytest`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agentkit import Tool, ToolDefinitionError, openai_tool, tool
from tests import tool_zoo as zoo
from tests.strict_rules import strict_violations

SNAPSHOTS = Path(__file__).parents[1] / "snapshots" / "tool_definitions.json"

STRICT_CAPABLE: list[Callable[..., Any]] = [
    zoo.scalars,
    zoo.optionals,
    zoo.unions,
    zoo.enums,
    zoo.typed_collections,
    zoo.models,
    zoo.constrained,
    zoo.stdlib_types,
    zoo.kinds,
    zoo.recursive,
    zoo.flattened,
    zoo.with_context,
    zoo.async_weather,
    zoo.no_parameters,
    zoo.Greeter("Hello").greet,
    zoo.Multiplier(3),
    zoo.square,
]
NOT_STRICT_CAPABLE: list[Callable[..., Any]] = [
    zoo.collections,
    zoo.variadic,
    zoo.untyped,
    zoo.free_dict,
]
ALL = STRICT_CAPABLE + NOT_STRICT_CAPABLE


def tool_id(function: Callable[..., Any]) -> str:
    return tool(function).name


@pytest.mark.parametrize("function", ALL, ids=tool_id)
def test_definition_matches_snapshot(function: Callable[..., Any]) -> None:
    definition = openai_tool(tool(function))
    snapshots = json.loads(SNAPSHOTS.read_text()) if SNAPSHOTS.exists() else {}
    name = definition["function"]["name"]
    if os.environ.get("AGENTKIT_UPDATE_SNAPSHOTS") == "1":
        snapshots[name] = definition
        SNAPSHOTS.write_text(json.dumps(snapshots, indent=2, sort_keys=True) + "\n")
    assert name in snapshots, "no snapshot yet: run with AGENTKIT_UPDATE_SNAPSHOTS=1"
    assert definition == snapshots[name]


@pytest.mark.parametrize("function", ALL, ids=tool_id)
def test_every_schema_is_valid_json_schema(function: Callable[..., Any]) -> None:
    made = tool(function)
    Draft202012Validator.check_schema(made.parameters)
    Draft202012Validator.check_schema(tool(function, strict=False).parameters)


@pytest.mark.parametrize("function", STRICT_CAPABLE, ids=tool_id)
def test_strict_by_default_when_possible(function: Callable[..., Any]) -> None:
    made = tool(function)
    assert made.strict
    assert made.definition().strict is True
    assert openai_tool(made)["function"]["strict"] is True
    assert strict_violations(made.parameters) == []


@pytest.mark.parametrize("function", NOT_STRICT_CAPABLE, ids=tool_id)
def test_falls_back_to_non_strict_and_says_why(function: Callable[..., Any]) -> None:
    made = tool(function)
    assert not made.strict
    assert made.definition().strict is False
    assert "strict" not in openai_tool(made)["function"]
    assert made.strict_problems
    with pytest.raises(ToolDefinitionError, match=r"strict mode is impossible.*parameter"):
        tool(function, strict=True)


def test_strict_false_sends_the_plain_schema() -> None:
    made = tool(zoo.optionals, strict=False)
    assert not made.strict
    assert made.parameters["required"] == ["name"]
    assert made.parameters["properties"]["limit"]["default"] == 10


def test_strict_keeps_defaults_optional_in_meaning() -> None:
    made = tool(zoo.optionals)
    schema = made.parameters
    assert schema["required"] == ["name", "limit", "label"]
    assert schema["properties"]["label"]["type"] == ["string", "null"]
    assert "null means the default" in schema["properties"]["label"]["description"]
    # null means "use the Python default"; omitted keys too.
    assert made.validate('{"name": "a", "limit": 3, "label": null}') == {"name": "a", "limit": 3}
    # ...but where the type itself admits None, null is a real None.
    assert made.validate('{"name": null, "limit": null, "label": "y"}') == {
        "name": None,
        "limit": None,
        "label": "y",
    }


def test_nested_defaults_become_nullable_and_null_means_default() -> None:
    made = tool(zoo.models)
    address = made.parameters["$defs"]["Address"]
    assert address["required"] == ["street", "city", "country"]
    assert address["additionalProperties"] is False
    arguments = made.validate(
        json.dumps(
            {
                "person": {
                    "name": "Ann",
                    "age": 30,
                    "addresses": [{"street": "1 Rue", "city": "Lyon", "country": None}],
                },
                "where": {"x": 1, "y": None},
                "movie": {"title": "Heat", "year": None},
            }
        )
    )
    assert arguments["person"].addresses[0].country == "FR"
    assert arguments["where"] == zoo.Point(1.0, 0.0)
    assert arguments["movie"] == {"title": "Heat"}


@pytest.mark.parametrize(
    ("function", "parameter", "expected"),
    [
        (zoo.scalars, "count", {"type": "integer"}),
        (zoo.scalars, "nothing", {"type": "null"}),
        (zoo.unions, "value", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (zoo.unions, "choice", {"enum": ["a", "b"], "type": "string"}),
        (zoo.unions, "one", {"enum": ["only"], "type": "string"}),
        (zoo.enums, "color", {"$ref": "#/$defs/Color"}),
        (zoo.stdlib_types, "when", {"format": "date-time", "type": "string"}),
        (zoo.stdlib_types, "ident", {"format": "uuid", "type": "string"}),
        (zoo.stdlib_types, "path", {"type": "string"}),
    ],
)
def test_strict_parameter_schemas(function: Any, parameter: str, expected: Any) -> None:
    assert tool(function).parameters["properties"][parameter] == expected


def test_fixed_tuples_offer_each_positions_type_with_exact_length() -> None:
    pair = tool(zoo.typed_collections).parameters["properties"]["pair"]
    assert pair == {
        "type": "array",
        "minItems": 2,
        "maxItems": 2,
        "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    }
    made = tool(zoo.typed_collections)
    assert made.validate('{"names": [], "pair": [1, "a"], "many": [1.5]}')["pair"] == (1, "a")
    with pytest.raises(ValueError, match=r"pair\[0\]"):
        made.validate('{"names": [], "pair": ["a", 1], "many": []}')


def test_unsupported_constraints_leave_the_wire_but_still_validate() -> None:
    made = tool(zoo.constrained)
    code = made.parameters["properties"]["code"]
    assert code == {"type": "string", "description": "Country code."}
    assert made.parameters["properties"]["amount"]["multipleOf"] == 5
    with pytest.raises(ValueError, match="code: String should have at least 2 characters"):
        made.validate('{"code": "F", "amount": 5}')
    with pytest.raises(ValueError, match="amount: Input should be a multiple of 5"):
        made.validate('{"code": "FR", "amount": 7}')


def test_field_description_overrides_the_docstring() -> None:
    assert "Overridden" not in json.dumps(tool(zoo.constrained).parameters)


def test_recursive_models_keep_their_reference() -> None:
    schema = tool(zoo.recursive).parameters
    children = schema["$defs"]["Tree"]["properties"]["children"]
    assert children["type"] == ["array", "null"]
    assert children["items"] == {"$ref": "#/$defs/Tree"}
    tree = tool(zoo.recursive).validate(
        '{"tree": {"label": "a", "children": [{"label": "b", "children": null}]}, "depth": 1}'
    )["tree"]
    assert tree.children[0].label == "b"


def test_flattened_model_is_the_whole_schema() -> None:
    made = tool(zoo.flattened)
    assert set(made.parameters["properties"]) == {"name", "age", "addresses"}
    assert made.description == "Save a person."
    arguments = made.validate('{"name": "Ann", "age": 3, "addresses": null}')
    assert made.call(arguments) == "Ann"


def test_from_model_builds_an_extraction_tool() -> None:
    made = Tool.from_model(zoo.Person)
    assert made.name == "Person"
    assert made.description == "Someone with a name and addresses."
    assert made.strict
    person = made.call(made.validate('{"name": "Bo", "age": 40, "addresses": []}'))
    assert person == zoo.Person(name="Bo", age=40)


def test_from_model_accepts_dataclasses_and_typed_dicts() -> None:
    assert Tool.from_model(zoo.Point).call({"value": zoo.Point(1, 2)}) == zoo.Point(1, 2)
    movie = Tool.from_model(zoo.Movie)
    assert movie.description == ""
    assert movie.call(movie.validate('{"title": "Up", "year": 2009}')) == {
        "title": "Up",
        "year": 2009,
    }


def test_from_model_refuses_non_object_types() -> None:
    with pytest.raises(ToolDefinitionError, match="needs a pydantic model"):
        Tool.from_model(int, name="number")


def test_untyped_parameters_accept_anything_and_are_not_strict() -> None:
    made = tool(zoo.untyped)
    assert made.parameters["properties"]["value"] == {}
    assert made.validate('{"value": [1, {"a": 2}], "items": [1, "x"]}')["value"] == [1, {"a": 2}]
