"""The public surface is `agentkit.__all__`: exactly what the package exports, nothing private."""

from __future__ import annotations

import agentkit


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(agentkit) if not name.startswith("_")}
    submodules = {name for name in public if type(getattr(agentkit, name)).__name__ == "module"}
    assert set(agentkit.__all__) == public - submodules


def test_all_has_no_duplicates() -> None:
    # The order is ruff's (RUF022: constants, then classes, then functions, each sorted).
    assert len(agentkit.__all__) == len(set(agentkit.__all__))


def test_every_public_name_is_documented() -> None:
    undocumented = [
        name
        for name in agentkit.__all__
        if callable(getattr(agentkit, name)) and not getattr(agentkit, name).__doc__
    ]
    assert undocumented == []
