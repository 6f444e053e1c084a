"""What agentkit saves for a person is theirs alone, and never written through a link.

Sessions, the response cache, approval states, the batch journal, timelines and the per-user
key are created 600 in 700 folders; a store that is a symbolic link is refused (a symlinked
session store once added tables to another program's database); an export never replaces
what is not a regular file.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from agentkit import Agent, PrivateFileError, ResponseCache, SQLiteSession
from agentkit._private import seal
from agentkit.batch._journal import Journal
from agentkit.testing import FakeModel

pytestmark = pytest.mark.anyio


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_every_store_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "fresh" / "data"
    monkeypatch.setenv("AGENTKIT_DATA_DIR", str(home))
    session = SQLiteSession(session_id="s")
    trace = tmp_path / "traces" / "run.jsonl"
    cache = ResponseCache(tmp_path / "cache" / "answers.sqlite3")
    agent = Agent(cache.wrap(FakeModel(["hi"])))
    await agent.run("hello", session=session, trace_to=trace)
    journal = Journal(tmp_path / "batch" / "journal", "job", resume=False)
    journal.close()
    files = [session.path, trace, cache.path, journal.path]
    assert [oct(mode(f)) for f in files] == [oct(0o600)] * 4
    for folder in (home, home.parent, trace.parent, cache.path.parent, journal.path.parent):
        assert mode(folder) == 0o700, folder
    seal(b"a state")  # the per-user key is made at first use
    assert mode(home / "secret.key") == 0o600


async def test_a_symlinked_store_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other-program.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE theirs (x)")
    link = tmp_path / "sessions.sqlite3"
    link.symlink_to(other)
    with pytest.raises(PrivateFileError, match="symbolic link"):
        await Agent(FakeModel(["hi"])).run("hi", session=SQLiteSession(link, "s"))
    trace = tmp_path / "trace.jsonl"
    trace.symlink_to(tmp_path / "elsewhere.jsonl")
    with pytest.raises(PrivateFileError, match="symbolic link"):
        await Agent(FakeModel(["hi"])).run("hi", trace_to=trace)
    with sqlite3.connect(other) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["theirs"]
    assert not (tmp_path / "elsewhere.jsonl").exists()


def _journal_with_one_item(path: Path) -> Journal:
    journal = Journal(path, "job", resume=False)
    journal.add([(0, "a", {"n": 1}, None)])
    journal.started("a")
    journal.done("a", {"ok": True}, None)
    return journal


def test_an_export_writes_to_devices_and_pipes_and_never_replaces_them(tmp_path: Path) -> None:
    journal = _journal_with_one_item(tmp_path / "journal")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert journal.export(fifo) == 1
        assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe, not a regular file
        assert b'"id": "a"' in os.read(reader, 4096)
    finally:
        os.close(reader)
    assert journal.export("/dev/null") == 1
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    journal.close()


def test_an_export_to_a_file_is_whole_private_and_leaves_nothing_behind(tmp_path: Path) -> None:
    journal = _journal_with_one_item(tmp_path / "journal")
    target = tmp_path / "out.jsonl"
    target.write_text("old")
    assert journal.export(target) == 1
    assert target.read_text().startswith('{"id": "a"')
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    journal.close()


def test_an_export_to_standard_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = _journal_with_one_item(tmp_path / "journal")
    assert journal.export("-") == 1
    assert capsys.readouterr().out.startswith('{"id": "a"')
    journal.close()
