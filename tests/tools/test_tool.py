"""`@tool`, `Tool` and `RunContext`: what users write, and what the loop relies on."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import functools
import inspect
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import (
    RunContext,
    Tool,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolResultError,
    openai_tool,
    serialize_result,
    tool,
)
from tests import tool_zoo as zoo


def test_bare_decorator_keeps_the_function_callable() -> None:
    made = tool(zoo.power)
    assert isinstance(made, Tool)
    assert made(2, 3) == 8
    assert made.name == "power"
    assert made.__doc__ == zoo.power.__doc__
    assert made.__wrapped__ is zoo.power  # type: ignore[attr-defined]


def test_decorator_with_options() -> None:
    @tool(
        name="lookup",
        description="Look a word up.",
        strict=False,
        timeout=2.5,
        max_retries=4,
        requires_approval=True,
    )
    def find(word: str) -> str:
        return word.upper()

    assert find("hi") == "HI"
    assert (find.name, find.description, find.strict) == ("lookup", "Look a word up.", False)
    assert (find.timeout, find.max_retries, find.requires_approval) == (2.5, 4, True)


def test_the_definition_is_provider_neutral_and_openai_tool_gives_the_wire_form() -> None:
    definition = tool(zoo.power).definition()
    assert (definition.name, definition.description, definition.strict) == (
        "power",
        "Raise base to exponent.",
        True,
    )
    assert (
        openai_tool(definition)
        == openai_tool(tool(zoo.power))
        == {
            "type": "function",
            "function": {
                "name": "power",
                "description": "Raise base to exponent.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "base": {"type": "integer", "description": "The base."},
                        "exponent": {"type": "integer", "description": "The exponent."},
                    },
                    "required": ["base", "exponent"],
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
    )


def test_no_description_leaves_the_key_out() -> None:
    def bare(x: int) -> int:
        return x

    assert tool(bare).definition().description is None
    assert "description" not in openai_tool(tool(bare))["function"]


@pytest.mark.anyio
async def test_async_functions() -> None:
    made = tool(zoo.async_weather)
    assert made.is_async
    assert await made.call(made.validate('{"city": "Oslo"}')) == "sunny in Oslo"


def test_bound_methods() -> None:
    made = tool(zoo.Greeter("Hi").greet)
    assert made.name == "greet"
    assert list(made.parameters["properties"]) == ["name"]
    assert made.parameters["properties"]["name"]["description"] == "Who to greet."
    assert made.call(made.validate('{"name": "Ann"}')) == "Hi, Ann"


def test_unbound_method_in_a_class_body_is_refused_with_a_hint() -> None:
    with pytest.raises(ToolDefinitionError, match=r"tool\(instance.method\)"):
        tool(zoo.Greeter.greet)


def test_partials_hide_bound_parameters() -> None:
    made = tool(zoo.square)
    assert made.name == "power"
    assert made.parameters["required"] == ["base", "exponent"]
    assert "null means the default, 2" in made.parameters["properties"]["exponent"]["description"]
    assert made.call(made.validate('{"base": 5, "exponent": null}')) == 25
    assert made(base=3) == 9


def test_callable_objects() -> None:
    made = tool(zoo.Multiplier(3), name="triple")
    assert made.description == "Multiply by a fixed factor."
    assert made.call(made.validate('{"value": 4}')) == 12


@pytest.mark.anyio
async def test_async_callable_objects_and_partials_are_async() -> None:
    class Fetcher:
        async def __call__(self, url: str) -> str:
            return url

    assert tool(Fetcher(), name="fetch").is_async
    assert tool(functools.partial(zoo.async_weather), name="weather").is_async
    assert not tool(zoo.square).is_async


def test_positional_only_keyword_only_and_variadic_parameters() -> None:
    kinds = tool(zoo.kinds)
    assert kinds.call(kinds.validate('{"a": 1, "b": 2}')) == [1, 2, 3]
    variadic = tool(zoo.variadic)
    arguments = variadic.validate('{"first": "f", "rest": [1, 2], "options": {"k": "v"}}')
    assert variadic.call(arguments) == {"first": "f", "rest": (1, 2), "options": {"k": "v"}}
    assert variadic.call(variadic.validate('{"first": "f"}')) == {
        "first": "f",
        "rest": (),
        "options": {},
    }


def test_positional_defaults_fill_gaps_before_args() -> None:
    def spread(a: int = 1, b: int = 2, *more: int) -> tuple[int, ...]:
        return (a, b, *more)

    made = tool(spread)
    assert made.call(made.validate('{"b": 5, "more": [7]}')) == (1, 5, 7)


def test_run_context_is_injected_and_not_in_the_schema() -> None:
    made = tool(zoo.with_context)
    assert made.takes_context
    assert list(made.parameters["properties"]) == ["city"]
    context = RunContext(deps="prod", tool_name="with_context", tool_call_id="call_1")
    assert made.call(made.validate('{"city": "Rome"}'), context) == "prod:Rome"


def test_run_context_elsewhere_is_an_error() -> None:
    def misplaced(city: str, ctx: RunContext[None]) -> str:
        return city

    with pytest.raises(ToolDefinitionError, match="'ctx' is a RunContext at position 2"):
        tool(misplaced)


class Opaque:
    pass


def test_inexpressible_type_names_function_and_parameter() -> None:
    def handler(name: str, callback: Callable[[int], int], thing: Opaque) -> None:
        return None

    with pytest.raises(ToolDefinitionError, match=r"handler: parameter 'callback' has a type"):
        tool(handler)


def test_unresolvable_annotation_is_a_clear_error() -> None:
    def broken(x: NoSuchType) -> None:  # type: ignore[name-defined] # noqa: F821
        return None

    with pytest.raises(ToolDefinitionError, match="cannot resolve the type annotation"):
        tool(broken)


def test_field_as_default_is_refused_with_the_annotated_form() -> None:
    from pydantic import Field

    def old_style(x: int = Field(default=1)) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match=r"Annotated\[T, Field"):
        tool(old_style)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "has space"}, "tool name 'has space' is not allowed"),
        ({"name": "x" * 65}, "is not allowed"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"max_retries": -1}, "max_retries must be"),
    ],
)
def test_bad_options_fail_at_definition(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        tool(zoo.power, **options)


def test_lambdas_need_a_name() -> None:
    with pytest.raises(ToolDefinitionError, match="lambda has no name"):
        tool(lambda x: x)
    assert tool(lambda x: x, name="echo").name == "echo"


def test_tool_of_a_tool_is_the_same_tool() -> None:
    made = tool(zoo.power)
    assert tool(made) is made


def test_describe_returns_is_off_by_default() -> None:
    def area(side: float) -> float:
        """Compute a square's area.

        Returns:
            The area in square units.
        """
        return side * side

    assert tool(area).description == "Compute a square's area."
    assert tool(area, describe_returns=True).description == (
        "Compute a square's area.\n\nReturns: The area in square units."
    )


def test_schema_is_built_once_at_definition() -> None:
    made = tool(zoo.models)
    assert made.parameters is made.parameters
    assert made._schema.adapter is made._schema.adapter


# --- argument validation ---------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "  ", "{}"])
def test_empty_arguments_mean_an_empty_object(raw: str) -> None:
    assert tool(zoo.no_parameters).validate(raw) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"base": 2', "arguments are not valid JSON"),
        ("[1, 2]", "arguments must be a JSON object, got an array"),
        ('"text"', "got a string"),
        ("null", "got null"),
        ("{}", "base: missing required argument; exponent: missing required argument"),
        ('{"base": 1, "exponent": 2, "extra": 3}', "extra: unexpected argument"),
        ('{"base": "two", "exponent": 2}', "base: Input should be a valid integer"),
    ],
)
def test_invalid_arguments_are_short_model_readable_errors(raw: str, message: str) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        tool(zoo.power).validate(raw)
    assert message in str(caught.value)
    assert caught.value.tool_name == "power"
    assert caught.value.errors


def test_nested_error_paths_name_the_field() -> None:
    made = tool(zoo.models)
    raw = json.dumps(
        {
            "person": {"name": "A", "age": 200, "addresses": [{"street": "s"}]},
            "where": {"x": "far"},
            "movie": {},
        }
    )
    with pytest.raises(ToolArgumentsError) as caught:
        made.validate(raw)
    text = str(caught.value)
    assert "person.age: Input should be less than or equal to 150" in text
    assert "person.addresses[0].city: missing required argument" in text
    assert "where.x: Input should be a valid number" in text
    assert "movie.title: missing required argument" in text
    locations = [error["loc"] for error in caught.value.errors]
    assert ("person", "addresses", 0, "city") in locations


def test_errors_never_echo_the_input_and_stay_short() -> None:
    secret_blob = "S3CRET" * 5000
    raw = json.dumps({"base": secret_blob, "exponent": [secret_blob] * 50})
    with pytest.raises(ToolArgumentsError) as caught:
        tool(zoo.power).validate(raw)
    assert "S3CRET" not in str(caught.value)
    assert "S3CRET" not in repr(caught.value.errors)
    many = tool(zoo.models)
    with pytest.raises(ToolArgumentsError) as caught:
        many.validate(json.dumps({f"extra_{i}": i for i in range(200)}))
    assert len(str(caught.value)) <= 600
    assert "problems in all" in str(caught.value)


def test_stdlib_values_are_parsed_from_json_strings() -> None:
    made = tool(zoo.stdlib_types)
    arguments = made.validate(
        json.dumps(
            {
                "when": "2026-11-26T10:00:00Z",
                "day": "2026-11-26",
                "ident": "12345678-1234-5678-1234-567812345678",
                "price": "12.50",
                "path": "a/b.txt",
            }
        )
    )
    assert arguments["when"].tzinfo is not None
    assert arguments["day"] == datetime.date(2026, 11, 26)
    assert isinstance(arguments["ident"], uuid.UUID)
    assert arguments["price"] == decimal.Decimal("12.50")
    assert str(arguments["path"]) == "a/b.txt"


def test_sets_enums_and_tuples_come_back_as_python_types() -> None:
    made = tool(zoo.collections)
    arguments = made.validate(
        '{"names": ["a"], "unique": [1, 1, 2], "pair": [1, "x"], "many": [], "scores": {"a": 1}}'
    )
    assert arguments["unique"] == {1, 2}
    assert arguments["pair"] == (1, "x")
    assert tool(zoo.enums).validate('{"color": "red", "priority": 2}') == {
        "color": zoo.Color.RED,
        "priority": zoo.Priority.HIGH,
    }


def test_validation_is_thread_safe_and_reuses_the_adapter() -> None:
    made = tool(zoo.power)
    results: list[dict[str, Any]] = []

    def work() -> None:
        for i in range(200):
            results.append(made.validate(f'{{"base": {i}, "exponent": 1}}'))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800


# --- result serialization --------------------------------------------------------------


class Reading(BaseModel):
    city: str
    celsius: float


@dataclasses.dataclass
class Pair:
    left: int
    right: int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        (Reading(city="Paris", celsius=21.5), '{"city":"Paris","celsius":21.5}'),
        (Pair(1, 2), '{"left":1,"right":2}'),
        ({"a": [1, 2], "b": None}, '{"a":[1,2],"b":null}'),
        ([1, "é"], '[1,"é"]'),
        (3.5, "3.5"),
        (None, "null"),
        (True, "true"),
        (datetime.date(2026, 1, 2), '"2026-01-02"'),
    ],
)
def test_results_are_text_or_compact_json(value: Any, expected: str) -> None:
    assert serialize_result(value, tool_name="t") == expected


@pytest.mark.parametrize("value", [b"raw", bytearray(b"x"), object(), {"k": object()}])
def test_unserializable_results_are_clear_errors(value: Any) -> None:
    with pytest.raises(ToolResultError, match="tool 't' returned"):
        serialize_result(value, tool_name="t")


def test_signature_of_the_tool_is_the_functions() -> None:
    assert inspect.signature(tool(zoo.power)) == inspect.signature(zoo.power)


def test_annotations_naming_classes_local_to_the_enclosing_function_resolve() -> None:
    """Postponed annotations (this module) naming a class of the enclosing function, as pydantic allows."""
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: float
        y: float

    @tool
    def distance(a: Point, b: Point) -> float:
        """Distance between two points.

        Args:
            a: The first point.
            b: The second point.
        """
        return float(((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5)

    arguments = distance.validate('{"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}}')
    assert distance.call(arguments) == 5.0
    assert distance.parameters["properties"]["a"]["description"] == "The first point."


def test_a_docstring_with_no_summary_keeps_its_parameter_descriptions() -> None:
    @tool
    def scale(x: int) -> int:
        """
        Args:
            x: The x.
        """
        return x

    assert scale.description == ""
    assert scale.parameters["properties"]["x"]["description"] == "The x."
