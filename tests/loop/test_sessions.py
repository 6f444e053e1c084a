"""Stored conversations on real SQLite files, across runs, tasks and processes."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from agentkit import (
    Agent,
    MaxTurnsExceeded,
    SessionBusy,
    SQLiteSession,
    UserMessage,
    tool,
)
from agentkit._session import SESSION_FORMAT, default_store
from agentkit.testing import FakeModel, FunctionModel, Reply

pytestmark = pytest.mark.anyio
FIXTURE = Path(__file__).parents[1] / "data" / "sessions-v1.sqlite3"


async def test_a_conversation_continues_across_runs_and_objects(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    model = FakeModel(["Hello Ada.", "You are Ada."])
    agent = Agent(model, instructions="Be brief.")
    await agent.run("I am Ada.", session=SQLiteSession(path, "ada"))
    second = await agent.run("Who am I?", session=SQLiteSession(path, "ada"))
    assert second.output == "You are Ada."
    sent = [m.content for m in model.requests[1].messages]
    assert sent == ["Be brief.", "I am Ada.", "Hello Ada.", "Who am I?"]
    stored = SQLiteSession(path, "ada").messages()
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
    assert SQLiteSession(path, "other").messages() == []


async def test_a_run_that_raises_keeps_what_it_had_marked_partial(tmp_path: Path) -> None:
    @tool
    def step() -> str:
        """One step."""
        return "again"

    model = FakeModel([Reply.tool_calls(("step", {}))] * 2)
    session = SQLiteSession(tmp_path / "s.sqlite3", "loop")
    with pytest.raises(MaxTurnsExceeded):
        await Agent(model, tools=[step], max_turns=2).run("go", session=session)
    stored = session.messages()
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant", "tool"]
    (info,) = SQLiteSession.list(session.path)
    assert info.partial
    assert info.messages == 5


async def test_concurrent_runs_in_one_process_take_turns(tmp_path: Path) -> None:
    def answer(messages: list, tools: list) -> str:  # type: ignore[type-arg]
        return f"seen {len(messages)}"

    agent = Agent(FunctionModel(answer))
    session = SQLiteSession(tmp_path / "s.sqlite3", "busy")
    async with anyio.create_task_group() as group:
        for number in range(5):
            group.start_soon(functools.partial(agent.run, f"run {number}", session=session))
    stored = session.messages()
    assert len(stored) == 10
    answers = [m.content for m in stored if m.role == "assistant"]
    assert answers == [f"seen {n}" for n in (1, 3, 5, 7, 9)]  # each saw all before it


def test_two_processes_on_one_session_lose_nothing_and_never_interleave(tmp_path: Path) -> None:
    path = str(tmp_path / "common.sqlite3")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.session_worker", path, name, "15"],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers)
    stored = SQLiteSession(path, "common").messages()
    assert len(stored) == 60
    pairs = list(zip(stored[::2], stored[1::2], strict=True))
    for position, (asked, answered) in enumerate(pairs):
        assert asked.role == "user"
        assert answered.content == f"{asked.content.split(' #')[0]} saw {2 * position + 1} messages"
    seen = sorted(int(n) for out in outputs for n in out.split())
    assert seen == list(range(1, 60, 2))  # every run saw every run before it


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(ended.stdout)


async def test_a_crashed_holder_does_not_block_forever(tmp_path: Path, dead_pid: int) -> None:
    session = SQLiteSession(tmp_path / "s.sqlite3", "crashed", wait=5)
    session.append([UserMessage(content="before")])
    with sqlite3.connect(session.path) as db:
        db.execute(
            "UPDATE sessions SET holder = 'x', held_by_pid = ? WHERE id = 'crashed'", (dead_pid,)
        )
    result = await Agent(FakeModel(["after"])).run("hi", session=session)
    assert result.output == "after"


async def test_a_live_holder_that_never_lets_go_is_a_clear_error(tmp_path: Path) -> None:
    session = SQLiteSession(tmp_path / "s.sqlite3", "held", wait=0.2)
    async with session.hold():
        with pytest.raises(SessionBusy, match=r"'held'.*held by another run"):
            await Agent(FakeModel(["x"])).run("hi", session=session)


async def test_session_and_history_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        await Agent(FakeModel(["x"])).run(
            "hi", session=SQLiteSession(tmp_path / "s"), message_history=[UserMessage(content="a")]
        )


def test_list_clear_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    assert SQLiteSession.list(path) == []
    for name in ("a", "b"):
        SQLiteSession(path, name).append([UserMessage(content=name)])
    assert [s.id for s in SQLiteSession.list(path)] == ["b", "a"]  # the latest first
    SQLiteSession(path, "a").clear()
    assert SQLiteSession(path, "a").messages() == []
    assert SQLiteSession(path, "a").delete()
    assert not SQLiteSession(path, "a").delete()
    assert [s.id for s in SQLiteSession.list(path)] == ["b"]


def test_a_store_of_this_format_stays_readable() -> None:
    """A store written by this version, kept in the repository: later versions must read it."""
    assert SESSION_FORMAT == 1
    stored = SQLiteSession(FIXTURE, "fixture").messages()
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1].tool_calls[0].name == "get_weather"


def test_a_newer_store_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    SQLiteSession(path, "x").append([UserMessage(content="hi")])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
    with pytest.raises(Exception, match=r"newer agentkit.*upgrade"):
        SQLiteSession(path, "x").messages()


def test_the_default_store_follows_the_platform_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENTKIT_DATA_DIR", str(tmp_path))
    assert default_store() == tmp_path / "sessions.sqlite3"
    monkeypatch.delenv("AGENTKIT_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_store() == tmp_path / "xdg" / "agentkit" / "sessions.sqlite3"
    assert os.fspath(default_store()).endswith(os.path.join("agentkit", "sessions.sqlite3"))


def test_the_command_stores_continues_lists_shows_and_removes() -> None:
    from agentkit.testing import MockChatServer
    from tests.cli.test_cli import in_process

    with MockChatServer() as server:
        server.add(Reply.text("Hello Ada."), Reply.text("You are Ada."), Reply.text("Noted."))
        env = {"AIMLAPI_API_KEY": "k", "AIMLAPI_BASE_URL": server.base_url, "PATH": "/usr/bin"}
        empty = in_process(["run", "-c", "hi"], env, "")
        first = in_process(["run", "I am Ada.", "--session", "ada"], env, "")
        second = in_process(["run", "-c", "--stream", "Who am I?"], env, "")
        alone = in_process(["run", "--no-session", "Note this."], env, "")
        sent = [[m["content"] for m in r.messages] for r in server.requests]
    assert empty.returncode == 2
    assert "no conversation to continue" in empty.stderr
    assert (first.returncode, second.returncode, alone.returncode) == (0, 0, 0)
    assert second.stdout.strip() == "You are Ada."
    assert sent[1] == ["I am Ada.", "Hello Ada.", "Who am I?"]
    assert sent[2] == ["Note this."]
    listed = json.loads(in_process(["sessions", "list", "--json"], {}, "").stdout)
    assert [(s["id"], s["messages"]) for s in listed] == [("ada", 4)]
    shown = in_process(["sessions", "show", "ada"], {}, "").stdout.splitlines()
    assert shown == ["user: I am Ada.", "assistant: Hello Ada.", "user: Who am I?",
                     "assistant: You are Ada."]  # fmt: skip
    assert in_process(["sessions", "show", "nobody"], {}, "").returncode == 2
    assert in_process(["sessions", "rm", "ada"], {}, "").returncode == 0
    assert json.loads(in_process(["sessions", "list", "--json"], {}, "").stdout) == []


def test_sessions_list_shows_each_conversations_first_prompt(tmp_path: Path) -> None:
    from agentkit import Agent, SQLiteSession
    from agentkit.testing import FakeModel

    store = tmp_path / "s.sqlite3"
    Agent(FakeModel(["ok", "ok"])).run_sync(
        "Plan the trip to Oslo", session=SQLiteSession(store, "a")
    )
    Agent(FakeModel(["ok"])).run_sync("x" * 200, session=SQLiteSession(store, "b"))
    found = {info.id: info.first_prompt for info in SQLiteSession.list(store)}
    assert found["a"] == "Plan the trip to Oslo"
    assert len(found["b"]) == 80
