"""Descriptions come from docstrings in every common style."""

from __future__ import annotations

import pytest

from agentkit import tool
from agentkit._docstrings import parse_docstring

GOOGLE = """Book a table.

    Finds a free table and holds it for ten minutes.

    Args:
        restaurant: Which restaurant,
            by its public name.
        guests (int): How many people.

    Keyword Args:
        window: Prefer a window seat.

    Other Parameters:
        note: Free text for the staff.

    Returns:
        A booking reference.
"""

NUMPY = """Book a table.

Finds a free table and holds it for ten minutes.

Parameters
----------
restaurant : str
    Which restaurant,
    by its public name.
guests : int
    How many people.

Other Parameters
----------------
note : str
    Free text for the staff.

Returns
-------
str
    A booking reference.
"""

SPHINX = """Book a table.

Finds a free table and holds it for ten minutes.

:param restaurant: Which restaurant,
    by its public name.
:type restaurant: str
:param guests: How many people.
:returns: A booking reference.
"""

EPYDOC = """Book a table.

Finds a free table and holds it for ten minutes.

@param restaurant: Which restaurant,
    by its public name.
@param guests: How many people.
@return: A booking reference.
"""


@pytest.mark.parametrize("docstring", [GOOGLE, NUMPY, SPHINX, EPYDOC])
@pytest.mark.parametrize("style", ["auto", "named"])
def test_every_style_gives_description_and_parameters(docstring: str, style: str) -> None:
    named = {GOOGLE: "google", NUMPY: "numpy", SPHINX: "sphinx", EPYDOC: "epydoc"}[docstring]
    parsed = parse_docstring(docstring, "auto" if style == "auto" else named)  # type: ignore[arg-type]
    assert parsed.description == (
        "Book a table.\n\nFinds a free table and holds it for ten minutes."
    )
    assert parsed.parameters["restaurant"] == "Which restaurant, by its public name."
    assert parsed.parameters["guests"] == "How many people."


def test_google_keyword_and_other_parameter_sections() -> None:
    parsed = parse_docstring(GOOGLE)
    assert parsed.parameters["window"] == "Prefer a window seat."
    assert parsed.parameters["note"] == "Free text for the staff."
    assert parsed.returns == "A booking reference."


def test_numpy_other_parameters() -> None:
    assert parse_docstring(NUMPY).parameters["note"] == "Free text for the staff."


def test_no_docstring() -> None:
    assert parse_docstring(None).description == ""
    assert parse_docstring("   ").parameters == {}


def test_summary_only() -> None:
    assert parse_docstring("Do it.").description == "Do it."


def test_unknown_style_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown docstring style 'javadoc'"):
        parse_docstring("x", "javadoc")  # type: ignore[arg-type]


def test_tool_uses_docstring_and_leaves_sections_out_of_the_description() -> None:
    def book(restaurant: str, guests: int, *, window: bool = False, note: str = "") -> str:
        return "ref"

    book.__doc__ = GOOGLE
    made = tool(book)
    assert made.description == "Book a table.\n\nFinds a free table and holds it for ten minutes."
    properties = made.parameters["properties"]
    assert properties["restaurant"]["description"] == "Which restaurant, by its public name."
    assert properties["window"]["description"].startswith("Prefer a window seat.")
    assert "Args" not in made.description


def test_named_style_is_used_even_when_another_would_match() -> None:
    def f(a: int) -> int:
        """Do.

        :param a: The a.
        """
        return a

    assert tool(f, docstring_style="sphinx").parameters["properties"]["a"]["description"] == (
        "The a."
    )
    assert "description" not in tool(f, docstring_style="google").parameters["properties"]["a"]
