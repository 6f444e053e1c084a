"""Property tests: whatever a function accepts, its schema accepts, and validation agrees."""

from __future__ import annotations

import decimal
import json
import pathlib
import typing
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter

from agentkit import tool
from agentkit._strict import drop_default_nulls, to_strict
from tests import tool_zoo as zoo

FUNCTIONS: list[Callable[..., Any]] = [
    zoo.scalars,
    zoo.optionals,
    zoo.unions,
    zoo.enums,
    zoo.typed_collections,
    zoo.models,
    zoo.stdlib_types,
    zoo.recursive,
    zoo.flattened,
    zoo.collections,
]


st.register_type_strategy(float, st.floats(allow_nan=False, allow_infinity=False))
st.register_type_strategy(decimal.Decimal, st.decimals(allow_nan=False, allow_infinity=False))
st.register_type_strategy(pathlib.Path, st.builds(pathlib.Path, st.from_regex(r"[a-z/]{1,8}")))
st.register_type_strategy(
    zoo.Person,
    st.builds(
        zoo.Person,
        name=st.text(max_size=5),
        age=st.integers(0, 150),
        addresses=st.lists(st.from_type(zoo.Address), max_size=2),
    ),
)
st.register_type_strategy(
    zoo.Tree,
    st.recursive(
        st.builds(zoo.Tree, label=st.text(max_size=3), children=st.just([])),
        lambda trees: st.builds(zoo.Tree, label=st.text(max_size=3), children=st.lists(trees)),
        max_leaves=4,
    ),
)


def arguments_for(function: Callable[..., Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Draw keyword arguments the function accepts, as the JSON a model would send."""
    made = TOOLS[function]
    hints = {
        name: hint for name, hint in typing.get_type_hints(function).items() if name != "return"
    }
    if made._schema.flattened:
        (hint,) = hints.values()
        adapter = TypeAdapter(hint)
        return st.from_type(hint).map(lambda value: adapter.dump_python(value, mode="json"))
    return st.fixed_dictionaries({name: as_json(hint) for name, hint in hints.items()})


def as_json(hint: Any) -> st.SearchStrategy[Any]:
    adapter = TypeAdapter(hint)
    return st.from_type(hint).map(lambda value: adapter.dump_python(value, mode="json"))


TOOLS = {function: tool(function) for function in FUNCTIONS}
STRATEGIES = {function: arguments_for(function) for function in FUNCTIONS}


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_accepted_arguments_fit_the_schema(function: Callable[..., Any], data: Any) -> None:
    made = TOOLS[function]
    arguments = data.draw(STRATEGIES[function])
    plain = made._schema.parameters
    assert not list(Draft202012Validator(plain).iter_errors(arguments))
    made.validate(json.dumps(arguments))
    if made.strict:
        # A strict model must send every key: null stands for the default.
        strict_arguments = fill_nulls(arguments, made.parameters)
        assert not list(Draft202012Validator(made.parameters).iter_errors(strict_arguments))
        made.validate(json.dumps(strict_arguments))


def fill_nulls(value: Any, schema: dict[str, Any]) -> Any:
    """Add `null` for every key left out, at every depth, as a strict model must send it."""
    defs = schema.get("$defs", {})

    def visit(value: Any, node: dict[str, Any]) -> Any:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        for option in node.get("anyOf", ()):
            resolved = option
            while "$ref" in resolved:
                resolved = defs[resolved["$ref"].rsplit("/", 1)[-1]]
            kinds = resolved.get("type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if (isinstance(value, dict) and "object" in kinds) or (
                isinstance(value, list) and "array" in kinds
            ):
                return visit(value, resolved)
        if isinstance(value, dict) and "properties" in node:
            return {
                key: visit(value[key], sub) if key in value else None
                for key, sub in node["properties"].items()
            }
        if isinstance(value, list) and "items" in node:
            return [visit(item, node["items"]) for item in value]
        return value

    return visit(value, schema)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=3), children, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_dropping_default_nulls_never_breaks_arbitrary_json(value: Any) -> None:
    schema = tool(zoo.models)._schema.parameters
    drop_default_nulls(value, schema)  # must not raise, whatever the model sends


def test_to_strict_leaves_its_input_untouched() -> None:
    schema = tool(zoo.models, strict=False).parameters
    before = json.dumps(schema, sort_keys=True)
    to_strict(schema)
    assert json.dumps(schema, sort_keys=True) == before
