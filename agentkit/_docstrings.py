"""Layer 2 (tool definition): read a function's description and its parameters' from its docstring.

Google, NumPy, Sphinx/reST and Epydoc styles are understood, detected automatically or named.
Google's `Keyword Args:` and `Other Parameters:` sections count as parameter sections too.
"""

from __future__ import annotations

import functools
import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from docstring_parser import Docstring

from ._exceptions import ConfigurationError

__all__ = ["DocstringStyle", "ParsedDocstring", "parse_docstring"]

DocstringStyle = Literal["auto", "google", "numpy", "sphinx", "epydoc"]

_GOOGLE_PARAMETER_SECTIONS = (
    "Keyword Args",
    "Keyword Arguments",
    "Other Args",
    "Other Arguments",
    "Other Parameters",
    "Other Params",
)
_STYLES = ("google", "numpy", "sphinx", "epydoc")  # google first: it wins ties in "auto"


@functools.cache
def _parsers() -> dict[str, Callable[[str], Docstring]]:
    # docstring_parser loads with the first tool, not with `import agentkit`.
    from docstring_parser import epydoc, google, numpydoc, rest

    sections = [
        *google.DEFAULT_SECTIONS,
        *(
            google.Section(title, "param", google.SectionType.MULTIPLE)
            for title in _GOOGLE_PARAMETER_SECTIONS
        ),
    ]
    parsers = (google.GoogleParser(sections=sections).parse, numpydoc.parse, rest.parse)
    return dict(zip(_STYLES, (*parsers, epydoc.parse), strict=True))


@dataclass(frozen=True, slots=True)
class ParsedDocstring:
    """What a docstring says about a function."""

    description: str = ""
    """The summary line and body text, without the parameter and returns sections."""
    parameters: dict[str, str] = field(default_factory=dict)
    """Each documented parameter's description, by name (leading `*`/`**` removed)."""
    returns: str | None = None
    """The text of the returns section, if any."""


def parse_docstring(docstring: str | None, style: DocstringStyle = "auto") -> ParsedDocstring:
    """Parse `docstring` in the given style, or in whichever style explains it best.

    Args:
        docstring: The raw docstring (`None` or empty gives an empty result).
        style: `"auto"` tries every style and keeps the one that finds the most sections.

    Raises:
        ValueError: `style` names no known style.
    """
    if not docstring or not docstring.strip():
        return ParsedDocstring()
    # No summary, a section first: `cleandoc` would strip the section body's indentation (it
    # measures from the second line), and the parsers would take the title for a summary.
    # Keep the indentation, and give them the empty summary line they expect.
    dedented = textwrap.dedent(docstring).strip()
    section_first = _SECTION_FIRST.match(dedented)
    text = "\n" + dedented if section_first else inspect.cleandoc(docstring)
    if style == "auto":
        parsed = _best_parse(text)
    elif style in _STYLES:
        parsed = _parsers()[style](text)
    else:
        known = ", ".join(["auto", *_STYLES])
        raise ConfigurationError(f"unknown docstring style {style!r}; use one of: {known}")
    return _summarize(parsed)


_SECTION_FIRST = re.compile(
    r"(?:(?:Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|"
    r"Returns|Return|Raises|Yields|Attributes|Examples?|Notes?)[ \t]*:?[ \t]*(?:\n|$)|:param\b)"
)


def _best_parse(text: str) -> Docstring:
    from docstring_parser import Docstring, ParseError

    best: Docstring | None = None
    best_score = (-1, -1)
    for parse in _parsers().values():
        try:
            candidate = parse(text)
        except ParseError:
            continue
        score = (len(candidate.params), len(candidate.meta))
        if score > best_score:
            best, best_score = candidate, score
    return best if best is not None else Docstring()


def _summarize(parsed: Docstring) -> ParsedDocstring:
    parts = [part for part in (parsed.short_description, parsed.long_description) if part]
    parameters = {
        param.arg_name.lstrip("*"): _one_paragraph(param.description)
        for param in parsed.params
        if param.description
    }
    returns = parsed.returns.description if parsed.returns else None
    return ParsedDocstring(
        description="\n\n".join(part.strip() for part in parts),
        parameters=parameters,
        returns=returns.strip() if returns else None,
    )


def _one_paragraph(text: str) -> str:
    # Multi-line entries keep their words, not their hard line breaks.
    return " ".join(text.split())
