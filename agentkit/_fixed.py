"""Layer 0 (foundation): objects fixed once made (a `Tool`, an `Agent`, an `Extractor`).

What an agent sent a model, or what a run is about to send, must not change under it: setting
or deleting an attribute after `__init__` ends is refused, saying to make a new one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Fixed"]


class Fixed:
    """A base whose attributes are fixed once `__init__` calls `self._fix()`."""

    _frozen = False

    def _fix(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def _what(self) -> str:
        """How the object is named in the refusal."""
        return f"this {type(self).__name__}"

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(
                f"{self._what()} is fixed once made; make a new {type(self).__name__} instead "
                f"of setting {name!r}"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self._frozen:
            raise AttributeError(f"{self._what()} is fixed once made; {name!r} stays")
        super().__delattr__(name)
