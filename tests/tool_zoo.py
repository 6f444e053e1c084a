"""Functions of every supported kind, shared by the tool-layer tests.

Kept at module level: annotations are resolved in the module where a function is defined.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import pathlib
import uuid
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from agentkit import RunContext


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str
    country: str = "FR"


class Person(BaseModel):
    """Someone with a name and addresses."""

    name: str
    age: Annotated[int, Field(ge=0, le=150)]
    addresses: list[Address] = []


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Tree(BaseModel):
    """A recursive structure."""

    label: str
    children: list[Tree] = []


def scalars(text: str, count: int, ratio: float, flag: bool, nothing: None) -> str:
    """Take one of each scalar type."""
    return text


def optionals(name: str | None, limit: int | None = 10, label: str = "x") -> str:
    """Take optional values.

    Args:
        name: A name or nothing.
        limit: How many at most.
        label: A label.
    """
    return f"{name}{limit}{label}"


def unions(value: int | str, choice: Literal["a", "b"], one: Literal["only"]) -> str:
    """Take unions and literals."""
    return str(value)


def enums(color: Color, priority: Priority = Priority.LOW) -> str:
    """Take enums."""
    return color.value


def collections(
    names: list[str],
    unique: set[int],
    pair: tuple[int, str],
    many: tuple[float, ...],
    scores: dict[str, int],
) -> int:
    """Take collections."""
    return len(names)


def typed_collections(names: list[str], pair: tuple[int, str], many: tuple[float, ...]) -> int:
    """Take collections that strict mode can express."""
    return len(names) + len(pair) + len(many)


def models(person: Person, where: Point, movie: Movie) -> str:
    """Take a model, a dataclass and a TypedDict."""
    return person.name


def constrained(
    code: Annotated[str, Field(min_length=2, max_length=3, description="Country code.")],
    amount: Annotated[int, Field(gt=0, multiple_of=5)] = 5,
) -> str:
    """Take constrained values.

    Args:
        code: Overridden by Field(description=...).
        amount: An amount.
    """
    return code * amount


def stdlib_types(
    when: datetime.datetime,
    day: datetime.date,
    ident: uuid.UUID,
    price: decimal.Decimal,
    path: pathlib.Path,
) -> str:
    """Take stdlib value types."""
    return str(path)


def kinds(a: int, /, b: int, *, c: int = 3) -> list[int]:
    """Take positional-only, normal and keyword-only parameters."""
    return [a, b, c]


def variadic(first: str, *rest: int, **options: str) -> dict[str, Any]:
    """Take *args and **kwargs."""
    return {"first": first, "rest": rest, "options": options}


def untyped(value, items: list) -> str:  # type: ignore[no-untyped-def,type-arg]
    """Take values without types."""
    return str(value)


def free_dict(data: dict[str, Any]) -> int:
    """Take a free-form dict."""
    return len(data)


def recursive(tree: Tree, depth: int) -> str:
    """Take a recursive model."""
    return tree.label


def flattened(person: Person) -> str:
    """Save a person."""
    return person.name


def with_context(ctx: RunContext[str], city: str) -> str:
    """Use the run context."""
    return f"{ctx.deps}:{city}"


async def async_weather(city: str) -> str:
    """Get the weather, asynchronously."""
    return f"sunny in {city}"


def no_parameters() -> str:
    """Take nothing."""
    return "ok"


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def greet(self, name: str) -> str:
        """Greet someone.

        Args:
            name: Who to greet.
        """
        return f"{self.greeting}, {name}"


class Multiplier:
    """Multiply by a fixed factor."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, value: int) -> int:
        return value * self.factor


def power(base: int, exponent: int) -> int:
    """Raise base to exponent.

    Args:
        base: The base.
        exponent: The exponent.
    """
    return int(base**exponent)


square = functools.partial(power, exponent=2)
