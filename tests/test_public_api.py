"""The public surface is `agentkit.__all__`: exactly what the package exports, nothing private."""

from __future__ import annotations

from pathlib import Path

import pytest

import agentkit

LAZY = set(agentkit._LAZY)  # loaded on first access (see __getattr__ in agentkit/__init__.py)


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(agentkit) if not name.startswith("_")} | LAZY
    submodules = {name for name in public if type(getattr(agentkit, name)).__name__ == "module"}
    assert set(agentkit.__all__) == public - submodules - {"TYPE_CHECKING"}


def test_lazy_names_resolve_and_unknown_names_fail() -> None:
    for name in LAZY:
        assert getattr(agentkit, name).__module__.startswith("agentkit.")
    with pytest.raises(AttributeError, match="no_such_name"):
        agentkit.no_such_name  # type: ignore[attr-defined]  # noqa: B018


# Loaded on first use, not by `import agentkit` (the import-time target is 300 ms):
# pydantic's plugin loader comes with the first validator built, so its absence shows that no
# record's validator is built at import.
LAZY_MODULES = (
    "httpx",
    "tenacity",
    "docstring_parser",
    "anyio.streams.memory",
    "pydantic.plugin._loader",
    "agentkit._extract",
    "genai_prices",  # the prices extra: imported when a cost is first estimated
)


def test_import_leaves_first_use_modules_unloaded() -> None:
    import subprocess
    import sys

    code = f"import sys, agentkit; print([m for m in {LAZY_MODULES!r} if m in sys.modules])"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_first_use_modules_load_when_used() -> None:
    import subprocess
    import sys
    import textwrap

    # The other side of the test above: each one really is what the first use needs.
    code = textwrap.dedent(
        """
        import sys, anyio, agentkit
        from agentkit.testing import FakeModel

        @agentkit.tool
        def echo(text: str) -> str:
            \"\"\"Echo.

            Args:
                text: What to echo.
            \"\"\"
            return text

        async def main():
            async with agentkit.Agent(FakeModel(["hi"]), tools=[echo]).stream("q") as run:
                [event async for event in run]

        anyio.run(main)
        agentkit.Extractor
        used = ("docstring_parser", "anyio.streams.memory", "agentkit._extract")
        print([m for m in used if m not in sys.modules])
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


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


def test_optional_extras_are_never_imported_by_the_package_or_the_command() -> None:
    import subprocess
    import sys

    extras = (
        "mcp",
        "agentkit.mcp",
        "dask",
        "distributed",
        "opentelemetry",
        "agentkit.otel",
        "agentkit._observe._otel",
    )
    code = f"import sys, agentkit, agentkit.cli; print([m for m in {extras!r} if m in sys.modules])"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_a_stream_is_made_by_its_agent_only() -> None:
    with pytest.raises(TypeError, match=r"agent\.stream"):
        agentkit.AgentStream()


@pytest.mark.anyio
async def test_a_recording_is_the_type_a_session_hands_out(tmp_path: Path) -> None:
    session = agentkit.SQLiteSession(tmp_path / "s.sqlite3")
    async with session.recording() as record:
        assert isinstance(record, agentkit.Recording)
        record.messages.append(agentkit.UserMessage(content="hi"))
    assert [m.content for m in session.messages()] == ["hi"]


def test_names_in_both_packages_are_one_object() -> None:
    """agentkit re-exports a few of agentkit.models' names; they are the same objects."""
    import agentkit.models

    both = set(agentkit.__all__) & set(agentkit.models.__all__)
    assert both == {"ModelProfile", "SettingDroppedWarning", "infer_model"}
    assert all(getattr(agentkit, name) is getattr(agentkit.models, name) for name in both)
