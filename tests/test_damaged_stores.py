"""Damaged or crafted files say what happened and what to do; they never crash bare.

A session store, a batch journal with a page overwritten in the middle, and timeline files
with crafted lines (and recorded text that tries to end the viewer's script).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from agentkit import Agent, SessionStoreError, SQLiteSession
from agentkit._observe._trace_view import render
from agentkit.batch._journal import Journal, JournalDamaged
from agentkit.testing import FakeModel, MockChatServer, Reply

from .cli.test_cli import in_process

pytestmark = pytest.mark.anyio


async def test_a_damaged_session_store_names_itself_and_the_way_on(tmp_path: Path) -> None:
    store = tmp_path / "sessions.sqlite3"
    store.write_bytes(b"\x00garbage, not SQLite" * 500)
    with pytest.raises(SessionStoreError, match=r"is damaged.*--no-session"):
        await Agent(FakeModel(["hi"])).run("hi", session=SQLiteSession(store, "s"))


def test_the_command_says_so_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "sessions.sqlite3").write_bytes(b"\x00garbage, not SQLite" * 500)
    with MockChatServer() as server:
        server.add(Reply.text("hi"), Reply.text("hi"))
        env = {"AIMLAPI_API_KEY": "k", "AIMLAPI_BASE_URL": server.base_url,
               "AGENTKIT_DATA_DIR": str(data), "PATH": "/usr/bin"}  # fmt: skip
        damaged = in_process(["run", "hello"], env, "")
        assert damaged.returncode == 1
        assert "sessions.sqlite3 is damaged" in damaged.stderr
        assert "--no-session" in damaged.stderr
        fine = in_process(["run", "hello", "--no-session"], env, "")
    assert fine.returncode == 0, fine.stderr


def test_a_journal_with_a_page_overwritten_mid_file_says_how_to_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = Journal(path, "job", resume=False)
    journal.add((i, f"id{i}", {"text": "x" * 500}, None) for i in range(2000))
    journal.close()
    with sqlite3.connect(path) as db:  # fold the WAL in, so the pages are in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = 4096
    size = path.stat().st_size
    with path.open("r+b") as raw:
        raw.seek((size // page // 2) * page)
        raw.write(os.urandom(page))
    with pytest.raises(JournalDamaged, match=r"is damaged.*--restart"):
        Journal(path, "job", resume=True)


@pytest.mark.parametrize(
    "line",
    [
        '{"event": "run_started", "t": "soon", "run": "r"}',
        '{"event": "request_started", "t": 1.0, "run": "r"}',
        '{"event": ["x"], "t": 1.0}',
        "[1, 2, 3]",
    ],
)
def test_a_crafted_timeline_is_a_clear_usage_error(tmp_path: Path, line: str) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(line + "\n")
    viewed = in_process(["trace", "view", str(trace)], {"PATH": "/usr/bin"}, "")
    assert viewed.returncode in (0, 2), viewed.stderr  # drawn leniently, or refused clearly
    assert "Traceback" not in viewed.stderr
    assert "error" not in viewed.stderr or str(trace) in viewed.stderr


def test_recorded_text_cannot_end_the_viewers_script() -> None:
    hostile = "<!--<script>alert(1)</script></script>"
    events = [
        {"event": "run_started", "t": 0.0, "run": "r", "kind": "agent", "name": hostile},
        {"event": "tool_started", "t": 0.1, "run": "r", "id": "c1", "name": "x",
         "arguments": hostile},
        {"event": "tool_ended", "t": 0.2, "run": "r", "id": "c1", "ok": True, "result": hostile},
        {"event": "run_ended", "t": 0.3, "run": "r"},
    ]  # fmt: skip
    page = render(events)
    start = page.index('id="data">') + len('id="data">')
    data = page[start : page.index("</script>", start)]
    assert "<" not in data
    assert hostile in json.dumps(json.loads(data), ensure_ascii=False)
