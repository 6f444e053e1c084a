r"""Layer 0 (foundation): text a terminal shows as it is, never as commands or as nothing.

Anything a model, a server or a file supplies may hold escape sequences that redraw the
screen (a fake argument over the real one, a cleared screen with a fake prompt), or
characters that print as nothing or as something else: blank letters (U+3164, U+2800),
combining overlays (U+0336), direction marks (U+202E). `visible` shows each such character
as an escape (`\u3164`): for what a person decides on (approval prompts, names, keys).
`printable` keeps line breaks and tabs, and escapes controls and format characters only:
for free text (a streamed answer, a trace line).
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable", "visible"]

_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5\u034f\u200b\ufeff")
"""Printable by Python's rules, yet drawn as nothing (Hangul and braille blanks...)."""
_HIDDEN_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Co", "Cn", "Zl", "Zp"})
_LAYOUT = frozenset("\n\t")


def _escaped(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def _hidden(ch: str) -> bool:
    if not ch.isprintable() or ch in _BLANK:
        return True
    category = unicodedata.category(ch)
    return category in _HIDDEN_CATEGORIES or (category == "Zs" and ch != " ")


def visible(text: str) -> str:
    """`text` with every control, invisible or combining character shown as an escape."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escaped(ch) if _hidden(ch) else ch for ch in text)


def printable(text: str) -> str:
    """`text` safe to write to a terminal: controls and format characters escaped.

    Line breaks and tabs stay; an escape sequence (ESC, CSI, OSC...) never reaches the
    terminal as one.
    """
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch in _LAYOUT or (ch.isprintable() and unicodedata.category(ch) != "Cf")
        else _escaped(ch)
        for ch in text
    )
