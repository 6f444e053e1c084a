"""What a new user and a code review tripped on (issue 14): each has its test here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentkit import Agent, AgentkitError, ConfigurationError, ToolDefinitionError, tool
from agentkit.testing import FakeModel, Reply

from .agents import add


def test_a_tool_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="is not allowed"):
        tool(name="foo\n")(lambda: 1)


def test_stop_at_tools_takes_tools_or_names_and_says_what_else_is_wrong() -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": 2, "b": 3})), "never asked"])
    result = Agent(model, tools=[add], stop_at_tools=[add]).run_sync("go")
    assert result.output == 5
    with pytest.raises(
        ConfigurationError, match="stop_at_tools takes tools or tool names, not int"
    ):
        Agent(model, tools=[add], stop_at_tools=[42])  # type: ignore[list-item]


def test_an_agent_cannot_be_changed_after_it_is_built() -> None:
    agent = Agent(FakeModel(["ok"]), tools=[add])

    @tool
    def sneaky() -> str:
        """Never offered to the model."""
        return "ran"

    with pytest.raises(TypeError):
        agent.tools["sneaky"] = sneaky  # type: ignore[index]
    with pytest.raises(AttributeError, match="make a new Agent"):
        agent.max_turns = 99
    assert list(agent.tools) == ["add"]


def test_loading_a_module_leaves_sys_path_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentkit._loading import load_object

    (tmp_path / "user_tools_mod.py").write_text("VALUE = 42\n")
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert load_object("user_tools_mod:VALUE") == 42
    assert sys.path == before


def test_every_error_agentkit_raises_is_in_its_tree() -> None:
    from agentkit._loading import LoadError
    from agentkit.batch import JournalDamaged, JournalError, JournalMismatch
    from agentkit.cli import UsageError

    for error in (LoadError, UsageError, JournalError, JournalMismatch, JournalDamaged):
        assert issubclass(error, AgentkitError), error


def test_caller_mistakes_are_one_error_type() -> None:
    """A duplicate tool name, a bad limit, a conflicting option: ConfigurationError (also a
    ValueError), whichever path found it."""
    from agentkit import ResponseCache, RetryPolicy
    from agentkit.models import ModelProfile

    mistakes = [
        lambda: Agent(FakeModel([]), tools=[add, add]),
        lambda: Agent(FakeModel([]), max_turns=0),
        lambda: Agent(FakeModel([]), tools=[add], tool_choice="nope"),
        lambda: RetryPolicy(max_retries=-1),
        lambda: ResponseCache("x.sqlite3", max_entries=0),
        lambda: ModelProfile(dropped_settings=frozenset({"model"})),
    ]
    for mistake in mistakes:
        with pytest.raises(ConfigurationError):
            mistake()
    assert issubclass(ConfigurationError, ValueError)


def test_tools_agents_and_extractors_are_fixed_once_made() -> None:
    """Before: agent.tools["add"].description = ... was accepted and silently ignored (the
    agent had cached its definitions)."""
    from pydantic import BaseModel

    from agentkit import Extractor

    class Point(BaseModel):
        x: int

    agent = Agent(FakeModel(["ok"]), tools=[add])
    with pytest.raises(AttributeError, match="fixed once made"):
        agent.tools["add"].description = "Something else."
    with pytest.raises(AttributeError, match="fixed"):
        del agent.max_turns
    extractor = Extractor(Point, model=FakeModel([]))
    with pytest.raises(AttributeError, match="fixed once made"):
        extractor.max_retries = 9
    assert agent.tools["add"].definition().description != "Something else."
