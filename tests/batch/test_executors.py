"""Batch executors are objects; their command-line strings are sugar for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit import ConfigurationError
from agentkit.batch import DaskExecutor, DbosExecutor, Executor, Journal, run_batch
from agentkit.batch._executors import executor_from
from agentkit.batch._options import BatchOptions

FIXTURES = str(Path(__file__).parents[1] / "batch_fixtures.py")


@pytest.mark.parametrize(
    ("spec", "made"),
    [
        ("dask://10.0.0.5:8786", DaskExecutor(address="10.0.0.5:8786")),
        ("dask-local://3", DaskExecutor(local_workers=3)),
        ("dbos", DbosExecutor()),
        ("dbos:postgresql://u:pw@db/batch", DbosExecutor("postgresql://u:pw@db/batch")),
    ],
)
def test_each_command_line_form_is_sugar_for_an_object(spec: str, made: Executor) -> None:
    assert executor_from(spec) == made
    assert made.spec == spec  # what the journal remembers for --resume
    assert executor_from(made) is made
    assert DaskExecutor(address="tcp://h:1").spec == "dask://h:1"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("spark://x", "use dask://HOST:PORT, dask-local://N, dbos"),
        ("dask-local://0", "local_workers=0"),
        ("dask-local://many", "use dask://HOST:PORT"),
        ("dask://", "address is empty"),
        ("dbos:redis://u:secret@h", "use dask://HOST:PORT"),
        (42, "give a DaskExecutor, a DbosExecutor"),
    ],
)
def test_a_bad_executor_is_refused_naming_the_forms(given: object, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named) as caught:
        executor_from(given)  # type: ignore[arg-type]
    assert "secret" not in str(caught.value)


def test_the_objects_check_themselves() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        DaskExecutor()
    with pytest.raises(ConfigurationError, match="exactly one"):
        DaskExecutor(address="h:1", local_workers=2)
    with pytest.raises(ConfigurationError, match=r"postgresql://\.\.\. URL"):
        DbosExecutor("mysql://u:secret@h/db")


def test_a_dbos_executor_never_shows_its_password() -> None:
    executor = DbosExecutor("postgresql://batch:s3cret@db.internal/jobs")
    assert "s3cret" not in repr(executor)
    assert "postgresql://batch:***@db.internal/jobs" in repr(executor)
    with pytest.raises(ConfigurationError) as caught:
        DbosExecutor("mysql://batch:s3cret@db.internal/jobs")
    assert "s3cret" not in str(caught.value)


def test_the_executor_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    with pytest.raises(ConfigurationError, match="tpm is not held across DBOS workers"):
        BatchOptions.checked("m:task", journal=journal, executor=DbosExecutor(), tpm=1000)
    dask = BatchOptions.checked("m:task", journal=journal, executor="dask-local://1", tpm=1000)
    assert dask.executor == DaskExecutor(local_workers=1)
    with pytest.raises(ConfigurationError, match="'module:name' string"):
        BatchOptions.checked(print, journal=journal, executor=DaskExecutor(local_workers=1))


@pytest.mark.anyio
async def test_run_batch_takes_an_executor_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On real Dask worker processes; the journal remembers the object's command-line form."""
    pytest.importorskip("distributed")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"e{n}", "text": str(n)}) + "\n" for n in range(6)))
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("CALLS_LOG", str(calls))  # the workers are started from this process
    summary = await run_batch(
        f"{FIXTURES}:worker_echo",
        source,
        journal=tmp_path / "job.journal",
        executor=DaskExecutor(local_workers=1, shard_size=2),
        concurrency=2,
    )
    assert (summary.done, summary.failed) == (6, 0)
    assert len(calls.read_text().splitlines()) == 6
    journal = Journal.open_existing(tmp_path / "job.journal")
    try:
        assert journal.remembered()["executor"] == "dask-local://1"
    finally:
        journal.close()


def test_a_scheduler_address_keeps_its_scheme() -> None:
    assert DaskExecutor(address="h:8786").scheduler == "tcp://h:8786"
    assert DaskExecutor(address="tcp://h:8786").scheduler == "tcp://h:8786"
    tls = DaskExecutor(address="tls://h:8786")
    assert tls.scheduler == "tls://h:8786"
    assert executor_from(tls.spec) == tls  # the journal's form comes back as the same object
    assert DaskExecutor(local_workers=2).scheduler is None
    with pytest.raises(ConfigurationError, match="address is empty"):
        DaskExecutor(address="tls://")


def test_resuming_with_another_database_never_prints_either_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `--executor` given again on --resume printed both URLs, passwords and all."""
    import argparse

    from agentkit.cli._batch import _settings_for

    path = tmp_path / "job.journal"
    journal = Journal(path, "fingerprint", resume=False)
    journal.remember({"executor": "dbos:postgresql://batch:first-secret@db/jobs"})
    journal.close()
    given = "dbos:postgresql://batch:second-secret@db/jobs"
    options = argparse.Namespace(resume=True, quiet=False, executor=given, concurrency=None,
                                 rpm=None, tpm=None, max_attempts=None, field=None, out=None)  # fmt: skip
    _settings_for(options, str(path))
    said = capsys.readouterr().err
    assert "--executor dbos:postgresql://batch:***@db/jobs (given again, instead of" in said
    assert "secret" not in said
    assert options.executor == given  # what runs is what was given


def test_the_command_to_continue_leaves_a_password_to_the_journal() -> None:
    """Before: a stopped batch printed `--executor dbos:postgresql://u:PASSWORD@...` to paste."""
    import argparse

    from agentkit.cli._batch import _resume_command

    def command(executor: str) -> str:
        options = argparse.Namespace(task="m:t", input="in.jsonl", out=None, executor=executor,
                                     attachments_dir=None, budget=None)  # fmt: skip
        return _resume_command(options, "in.jsonl.journal")

    secret = command("dbos:postgresql://batch:s3cret@db/jobs")
    assert "s3cret" not in secret
    assert "--executor" not in secret  # --resume takes it from the journal, which remembers it
    assert "--executor dask-local://2" in command("dask-local://2")


def test_a_worker_given_no_executor_form_is_a_usage_error() -> None:
    """Before: `batch worker --executor dbos:redis://...` exited 1, as an unexpected error."""
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "agentkit", "batch", "worker", "m:task",
         "--executor", "dbos:redis://u:secret@h"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    assert "use dask://HOST:PORT, dask-local://N, dbos" in completed.stderr
    assert "secret" not in completed.stderr


def test_settings_read_back_from_an_edited_journal_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal is a file: what it says is printed escaped, never as terminal commands."""
    import argparse

    from agentkit.cli._batch import _settings_for

    path = tmp_path / "job.journal"
    journal = Journal(path, "fingerprint", resume=False)
    journal.remember({"field": "text\x1b]0;owned\x07\x1b[2J", "executor": "dask://h:1\x1b[31m"})
    journal.close()
    options = argparse.Namespace(resume=True, quiet=False, executor=None, concurrency=None,
                                 rpm=None, tpm=None, max_attempts=None, field=None, out=None)  # fmt: skip
    _settings_for(options, str(path))
    said = capsys.readouterr().err
    assert "resuming with the journal's settings" in said
    assert "\x1b" not in said
    assert "\x07" not in said
