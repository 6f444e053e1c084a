"""The `agentkit` command, run for real in a subprocess against a loopback MockChatServer."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentkit.cli import main
from agentkit.testing import Fault, MockChatServer, Reply

FIXTURES = str(Path(__file__).parents[1] / "cli_fixtures.py")


def agentkit(
    *args: str,
    server: MockChatServer | None = None,
    stdin: str | None = None,
    key: bool = True,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the command: in this process through `main(argv)`, or as `python -m agentkit`.

    In-process is the default (fast, and measured by coverage); `process=True` keeps a few
    end-to-end runs of the real entry point.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIML", "HTTP_PROXY", "HTTPS_PROXY"))
    }
    if key:
        env["AIMLAPI_API_KEY"] = "sk-cli-test"
    if server is not None:
        env["AIMLAPI_BASE_URL"] = server.base_url
    if process:
        return subprocess.run(
            [sys.executable, "-m", "agentkit", *args],
            capture_output=True, text=True, input=stdin, env=env, timeout=60, check=False,
        )  # fmt: skip
    return in_process(list(args), env, stdin or "")


def in_process(
    argv: list[str], env: dict[str, str], stdin: str
) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    saved_environ, saved_stdin = dict(os.environ), sys.stdin
    os.environ.clear()
    # Stored sessions stay in the test's own folder (conftest), whatever env a test gives.
    os.environ.update({"AGENTKIT_DATA_DIR": saved_environ.get("AGENTKIT_DATA_DIR", ""), **env})
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        sys.stdin = saved_stdin
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@pytest.fixture
def server() -> Iterator[MockChatServer]:
    with MockChatServer() as running:
        yield running


def test_help_lists_commands_and_exit_codes() -> None:
    completed = agentkit("--help", process=True)
    assert completed.returncode == 0
    for word in ("run", "tools", "extract", "demo", "Exit codes", "130"):
        assert word in completed.stdout


def test_no_command_is_a_usage_error() -> None:
    assert agentkit().returncode == 2


def test_demo_runs_offline_with_traces_on_stderr() -> None:
    completed = agentkit("demo", key=False, process=True)
    assert completed.returncode == 0, completed.stderr
    assert "Tokyo" in completed.stdout
    assert "Lisbon" in completed.stdout
    assert "offline" in completed.stderr
    assert completed.stderr.count("-> get_weather") == 2
    assert "->" not in completed.stdout


def test_run_prints_only_the_answer_on_stdout(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(("add", {"a": 2, "b": 3})), Reply.text("It is 5."))
    completed = agentkit(
        "run", "2+3?", "-T", FIXTURES, "-v", "--seed", "4", "--max-tokens", "99", server=server
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "It is 5.\n"
    assert 'add({"a": 2, "b": 3}) = 5' in completed.stderr
    body = server.requests[0].body
    assert (body["seed"], body["max_tokens"]) == (4, 99)
    assert server.requests[0].headers["authorization"] == "Bearer sk-cli-test"


def test_run_options_reach_the_request(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(("add", {"a": 1, "b": 1})), Reply.text("2"))
    completed = agentkit(
        "run", "1+1", "-T", f"{FIXTURES}:add", "--instructions", "Be terse.", "--tool-choice", "add",
        "--no-parallel", "--model", "other-model", server=server,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    body = server.requests[0].body
    assert body["model"] == "other-model"
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert body["parallel_tool_calls"] is False


def test_run_json_output(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(("add", {"a": 1, "b": 2})), Reply.text("3"))
    completed = agentkit("run", "1+2", "-T", FIXTURES, "--json", server=server)
    result = json.loads(completed.stdout)
    assert result["output"] == "3"
    assert [call["name"] for call in result["tool_calls"]] == ["add"]
    assert result["tool_calls"][0]["ok"] is True
    assert result["exit_reason"] == "final_answer"
    assert result["usage"]["requests"] == 2
    assert [m["role"] for m in result["messages"]] == ["user", "assistant", "tool", "assistant"]


def test_run_streams_text(server: MockChatServer) -> None:
    server.add(Reply(content="streamed answer", chunk_size=3))
    completed = agentkit("run", "hi", "--stream", server=server)
    assert completed.stdout == "streamed answer\n"
    assert server.requests[0].body["stream"] is True


def test_approval_without_a_terminal_is_denied_with_exit_5(server: MockChatServer) -> None:
    server.add(
        Reply.tool_calls(("delete_file", {"path": "/tmp/x"})), Reply.text("Could not delete.")
    )
    completed = agentkit("run", "delete /tmp/x", "-T", FIXTURES, server=server, stdin="")
    assert completed.returncode == 5
    assert "no terminal to ask on; pass --yes" in completed.stderr
    assert "denied" in server.requests[1].body["messages"][-1]["content"]


@pytest.mark.parametrize(("flag", "allowed"), [("--yes", True), ("--deny", False)])
def test_yes_and_deny(server: MockChatServer, flag: str, allowed: bool) -> None:
    server.add(Reply.tool_calls(("delete_file", {"path": "/tmp/x"})), Reply.text("done"))
    completed = agentkit("run", "delete", "-T", FIXTURES, flag, server=server)
    assert completed.returncode == (0 if allowed else 5)
    tool_result = server.requests[1].body["messages"][-1]["content"]
    assert (tool_result == "deleted /tmp/x") is allowed


@contextlib.contextmanager
def at_the_approval_prompt(
    server: MockChatServer, prompt: str
) -> Iterator[tuple[subprocess.Popen[bytes], int, bytes]]:
    """`agentkit run PROMPT` on a real terminal, stopped at its approval prompt.

    Yields the process, the terminal's controlling side (to type on) and what it showed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIML")}
    env.update(AIMLAPI_API_KEY="sk-cli-test", AIMLAPI_BASE_URL=server.base_url)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "run", prompt, "-T", FIXTURES],
        stdin=terminal, stdout=subprocess.PIPE, stderr=terminal, env=env,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    try:
        while b"[y/N]" not in seen:
            ready, _, _ = select.select([controller], [], [], 30)
            assert ready, f"no approval prompt; saw {seen!r}"
            seen += os.read(controller, 1024)
        yield process, controller, seen
    finally:
        process.kill()
        os.close(controller)
        if process.stdout is not None:
            process.stdout.close()


def test_interactive_approval_on_a_real_terminal(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(("delete_file", {"path": "/tmp/y"})), Reply.text("Deleted."))
    with at_the_approval_prompt(server, "delete /tmp/y") as (process, controller, seen):
        assert b'Allow this call?\r\ndelete_file(\r\n    path = "/tmp/y"\r\n)' in seen
        os.write(controller, b"y\n")
        stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert stdout == b"Deleted.\n"
    assert server.requests[1].body["messages"][-1]["content"] == "deleted /tmp/y"


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        (Fault.http(401, message="bad key"), 3, "HTTP 401: bad key"),
        (Fault.http(400, message="bad field"), 3, "HTTP 400: bad field"),
    ],
)
def test_model_errors_are_one_line_with_a_hint(
    server: MockChatServer, fault: Fault, code: int, message: str
) -> None:
    server.add(fault)
    completed = agentkit("run", "hi", server=server)
    assert completed.returncode == code
    assert message in completed.stderr
    assert "hint:" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""


def test_debug_shows_the_traceback(server: MockChatServer) -> None:
    server.add(Fault.http(404, message="no such model"))
    completed = agentkit("run", "hi", "--debug", server=server)
    assert completed.returncode == 3
    assert "Traceback" in completed.stderr


def test_missing_key_names_the_variable() -> None:
    completed = agentkit("run", "hi", key=False)
    assert completed.returncode == 3
    assert "AIMLAPI_API_KEY" in completed.stderr


def test_limits_exit_4(server: MockChatServer) -> None:
    server.add(*[Reply.tool_calls(("add", {"a": 1, "b": 1}))] * 3)
    completed = agentkit("run", "loop", "-T", FIXTURES, "--max-turns", "2", server=server)
    assert completed.returncode == 4
    assert "no final answer after 2 model requests (--max-turns 2)" in completed.stderr
    assert "hint: raise --max-turns, or add -v" in completed.stderr
    assert "error.result" not in completed.stderr  # a CLI hint speaks CLI, not Python


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "x", "-T", "no/such/file.py"], "no such file"),
        (["run", "x", "-T", "no_such_module_xyz"], "no module named"),
        (["run", "x", "-T", f"{FIXTURES}:missing"], "has no 'missing'"),
        (["run", "x", "--seed", "0"], "seed"),
        (["run", "x", "--tool-choice", "nope"], "names no tool"),
        (["run", "x", "--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    completed = agentkit(*args)
    assert completed.returncode == 2
    assert message in completed.stderr


def test_tools_list_and_schema() -> None:
    listed = agentkit("tools", "list", "-T", FIXTURES)
    assert listed.returncode == 0
    assert "add [strict]" in listed.stdout
    assert "delete_file [strict, needs approval]" in listed.stdout
    assert "a: integer - The first number." in listed.stdout
    as_json = json.loads(agentkit("tools", "list", "-T", FIXTURES, "--json").stdout)
    assert [entry["name"] for entry in as_json] == ["add", "delete_file"]
    schema = json.loads(agentkit("tools", "schema", FIXTURES).stdout)
    assert schema[0]["type"] == "function"
    assert schema[0]["function"]["strict"] is True


def test_extract_prints_the_object(server: MockChatServer, tmp_path: Path) -> None:
    server.add(
        Reply.tool_calls(("Contact", {"name": 1})),
        Reply.tool_calls(("Contact", {"name": "Ann", "email": None})),
    )
    source = tmp_path / "note.txt"
    source.write_text("Ann called.")
    completed = agentkit("extract", "--schema", f"{FIXTURES}:Contact", str(source), server=server)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"name": "Ann", "email": None}
    assert "attempt 1 corrected" in completed.stderr
    from_stdin = agentkit(
        "extract", "--schema", f"{FIXTURES}:Contact", "-", server=server, stdin=""
    )
    assert from_stdin.returncode == 2
    assert "input is empty" in from_stdin.stderr


def test_extract_failure_exits_6(server: MockChatServer, tmp_path: Path) -> None:
    server.add(*[Reply.tool_calls(("Contact", {"name": 1}))] * 2)
    completed = agentkit(
        "extract",
        "--schema",
        f"{FIXTURES}:Contact",
        "--retries",
        "1",
        "-",
        server=server,
        stdin="Ann",
    )
    assert completed.returncode == 6
    assert "no valid Contact after 2 attempts" in completed.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`agentkit tools schema ... | head -1`: no 'Broken pipe' error, the exit of a SIGPIPE."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "tools", "schema", FIXTURES],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before anything is written
    _, stderr = process.communicate(timeout=60)
    assert stderr == b""
    assert process.returncode == 141


def test_ctrl_c_at_the_approval_prompt_stops_at_once(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(("delete_file", {"path": "/tmp/z"})), Reply.text("Deleted."))
    with at_the_approval_prompt(server, "delete /tmp/z") as (process, _, _):
        process.send_signal(signal.SIGINT)  # Ctrl-C, and no Enter after it
        process.wait(timeout=15)
    assert process.returncode == 130
    assert len(server.requests) == 1  # the call never ran, nothing went on


def test_extract_from_a_terminal_says_it_is_reading_stdin() -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "extract", "--schema", f"{FIXTURES}:Contact"],
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(terminal)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "nothing said while waiting for stdin"
        line = process.stderr.readline()
        assert b"reading the text from stdin; end it with Ctrl-D" in line
    finally:
        process.kill()
        process.communicate()
        os.close(controller)


def test_a_server_on_this_machine_needs_no_key(server: MockChatServer) -> None:
    server.add(Reply.text("local answer"))
    completed = agentkit("run", "hi", key=False, server=server)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "local answer\n"
    assert "authorization" not in server.requests[0].headers


def test_the_key_from_a_flag_or_a_named_variable(
    server: MockChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add(Reply.text("one"), Reply.text("two"))
    assert agentkit("run", "hi", "--api-key", "sk-flag", key=False, server=server).returncode == 0
    monkeypatch.setenv("MY_GATEWAY_KEY", "sk-from-env")
    named = agentkit("run", "hi", "--api-key-env", "MY_GATEWAY_KEY", key=False, server=server)
    assert named.returncode == 0, named.stderr
    sent = [request.headers["authorization"] for request in server.requests]
    assert sent == ["Bearer sk-flag", "Bearer sk-from-env"]
    unset = agentkit("run", "hi", "--api-key-env", "NOT_SET_ANYWHERE", key=False, server=server)
    assert unset.returncode == 2
    assert "--api-key-env NOT_SET_ANYWHERE: that variable is not set" in unset.stderr


def test_a_repeated_model_is_a_fallback_chain(server: MockChatServer) -> None:
    server.add(Fault.http(404, message="model first not found"), Reply.text("from second"))
    args = ("run", "hi", "--model", "first", "--model", "second", "--base-url", server.base_url)
    completed = agentkit(*args, "--json", server=server)
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert answer["output"] == "from second"
    assert answer["models"] == {"aimlapi:second": 1}
    assert [r.body["model"] for r in server.requests] == ["first", "second"]
    again = agentkit(*args[:4], "--model", "first", server=server)
    assert again.returncode == 2
    assert "twice" in again.stderr


def test_cli_run_and_extract_take_attachments(tmp_path: Path) -> None:
    from agentkit.testing import make_pdf, make_png
    from tests.spec import request_problems

    PNG, PDF = make_png(), make_pdf("Invoice INV-7", "Total 42.50 EUR")
    (tmp_path / "photo").write_bytes(PNG)
    (tmp_path / "inv.pdf").write_bytes(PDF)
    with MockChatServer([Reply.text("A red square.")], validate=request_problems) as server:
        done = agentkit(
            "run",
            "Describe it",
            "--model",
            "openai/gpt-5-2-chat-latest",
            "-a",
            str(tmp_path / "photo"),
            server=server,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "A red square."
        assert server.requests[0].messages[-1]["content"][1]["type"] == "image_url"
        server.add(Reply.tool_calls(("Answer", {"number": "INV-7", "total": 42.5,
                                                 "currency": "EUR"})))  # fmt: skip
        done = agentkit(
            "extract", "--schema", "number, total float, currency", "--model", "openai/gpt-5-2-chat-latest",
            "-a", str(tmp_path / "inv.pdf"), server=server,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["number"] == "INV-7"
        assert server.requests[1].messages[-1]["content"][0]["type"] == "file"
        assert server.validation_errors == []
    missing = agentkit("run", "hi", "-a", str(tmp_path / "nope.png"))
    assert missing.returncode == 2
    assert "--attach: cannot read" in missing.stderr


def test_the_command_line_shows_the_cost(tmp_path: Path) -> None:
    with MockChatServer([Reply.text("a"), Reply.text("b")], usd_per_request="0.002") as server:
        shown = agentkit("run", "hi", "-v", server=server)
        assert shown.returncode == 0, shown.stderr
        assert "$0.002 (reported)" in shown.stderr
        as_json = json.loads(agentkit("run", "hi", "--json", server=server).stdout)
    assert as_json["cost"] == pytest.approx(0.002)
    assert as_json["cost_source"] == "reported"


def test_batch_run_stops_at_its_budget_and_says_how_to_go_on(tmp_path: Path) -> None:
    items = tmp_path / "in.jsonl"
    items.write_text("".join(json.dumps({"id": str(n), "text": f"c{n}"}) + "\n" for n in range(6)))
    schema = Path(__file__).parents[1] / "cli_fixtures.py"
    answer = Reply.tool_calls(("Contact", {"name": "x"}))
    with MockChatServer(responder=lambda r: answer, usd_per_request="0.5") as server:
        done = agentkit(
            "batch", "run", f"{schema}:Contact", str(items), "--budget", "1",
            "--concurrency", "1", "--quiet", server=server,
        )  # fmt: skip
        assert done.returncode == 8, done.stderr
        summary = json.loads(done.stdout)
        assert (summary["done"], summary["budget_reached"]) == (2, True)
        assert summary["cost_usd"] == 1.0
        assert summary["projected_usd"] == 3.0
        assert "raise --budget" in done.stderr
        assert "--budget 1" in done.stderr
        status = agentkit("batch", "status", str(items) + ".journal")
    assert json.loads(status.stdout)["cost_usd"] == 1.0


def test_run_compact_keeps_a_long_run_inside_the_window() -> None:
    from tests.loop.test_history import pages

    tools = f"{FIXTURES}:read_page"
    with MockChatServer(responder=pages(40), context_window=3_000) as server:
        plain = agentkit("run", "Read", "-T", tools, "--max-turns", "60", server=server)
        assert plain.returncode == 3, plain.stderr  # the provider refused: a model error
        assert "run again with --compact" in plain.stderr
        compacted = agentkit(
            "run", "Read", "-T", tools, "--max-turns", "60", "--compact", server=server
        )
    assert compacted.returncode == 0, compacted.stderr
    assert compacted.stdout.strip() == "read all 40 pages"


def test_sessions_show_marks_the_compacted_span() -> None:
    from agentkit import AssistantMessage, SQLiteSession, UserMessage

    session = SQLiteSession(session_id="compacted-talk")
    session.append([UserMessage(content=f"m{n}") if n % 2 == 0 else AssistantMessage(content=f"a{n}")
                    for n in range(6)])  # fmt: skip
    session._save_compaction({"covered": 4, "summary": "s", "anchor": "x"})
    shown = agentkit("sessions", "show", "compacted-talk")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1] == "[compacted: messages 2-4 are sent as a summary; the first is kept]"


def test_attach_inline_fetches_as_the_web_tool_does_and_refuses_private_addresses() -> None:
    refused = agentkit("run", "hi", "-a", "http://127.0.0.1:9/invoice.pdf", "--inline")
    assert refused.returncode == 2
    assert "not allowed" in refused.stderr


def test_models_remote_lists_the_providers_catalogue_and_keeps_it_by_etag() -> None:
    catalogue = [
        {"id": "openai/gpt-4.1", "context_length": 1047576,
         "top_provider": {"max_completion_tokens": 32768},
         "architecture": {"input_modalities": ["text", "image"]},
         "pricing": {"prompt": "0.000002", "completion": "0.000008"}},
        {"id": "odd/model", "context_window": "lots", "pricing": {"prompt": "free"}},
        "not an entry",
    ]  # fmt: skip
    with MockChatServer(catalogue=catalogue) as server:
        first = agentkit("models", "--remote", "--json", server=server)
        assert first.returncode == 0, first.stderr
        rows = json.loads(first.stdout)
        assert rows[0] == {
            "id": "openai/gpt-4.1", "context_window": 1047576, "max_output_tokens": 32768,
            "input_modalities": ["text", "image"], "usd_per_million_input": "2",
            "usd_per_million_output": "8",
        }  # fmt: skip
        assert rows[1]["context_window"] is None  # not a number: empty, never a guess
        assert rows[1]["usd_per_million_input"] is None
        assert len(rows) == 2
        again = agentkit("models", "--remote", server=server)
        assert again.returncode == 0, again.stderr
        assert (
            "openai/gpt-4.1  context 1047576  output 32768  text,image  $2/$8 per M" in again.stdout
        )
        asked = [r for r in server.requests if r.method == "GET"]
    assert asked[0].path.endswith("/models?include=pricing%2Ccapabilities%2Cmodalities")
    assert asked[1].headers.get("if-none-match")  # the second time: by its ETag (a 304)


def test_a_fetched_catalogue_prices_what_the_provider_does_not_report() -> None:
    catalogue = [{"id": "house-model", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}]
    with MockChatServer([Reply.text("before"), Reply.text("hi")], catalogue=catalogue) as server:
        # A run before the list exists looked for it (and remembers for 5 s that there was
        # none): the list written next must still price the run after it, at once.
        before = agentkit("run", "hi", "--model", "house-model", "--json", server=server)
        assert json.loads(before.stdout)["cost_source"] == "unknown"
        listed = agentkit("models", "--remote", "--base-url", server.base_url, server=server)
        assert listed.returncode == 0, listed.stderr
        run = agentkit("run", "hi", "--model", "house-model", "--json", server=server)
    answer = json.loads(run.stdout)
    usage = answer["usage"]
    expected = usage["prompt_tokens"] * 0.000001 + usage["completion_tokens"] * 0.000002
    assert answer["cost_source"] == "estimated"
    assert answer["cost"] == pytest.approx(expected)


@pytest.mark.parametrize(("listed", "seen"), [(8192, 8192), (10**12, None), ("big", None)])
def test_a_fetched_catalogue_gives_the_context_window_the_profile_lacks(
    monkeypatch: pytest.MonkeyPatch, listed: object, seen: int | None
) -> None:
    """#29/#30: the window a history processor (and the context error) sees comes from the
    profile, else from the provider's fetched model list; absurd values are not believed."""
    import anyio

    from agentkit import Agent, HistoryContext, infer_model

    windows: list[int | None] = []

    def note(messages: list[Any], context: HistoryContext) -> list[Any]:
        windows.append(context.window)
        return messages

    catalogue = [{"id": "wide-model", "context_length": listed}]
    with MockChatServer([Reply.text("hi")], catalogue=catalogue) as server:
        listing = agentkit("models", "--remote", "--base-url", server.base_url, server=server)
        assert listing.returncode == 0, listing.stderr
        monkeypatch.setenv("AIMLAPI_BASE_URL", server.base_url)
        monkeypatch.setenv("AIMLAPI_API_KEY", "sk-test")

        async def run() -> None:
            async with infer_model("aimlapi:wide-model") as model:
                await Agent(model, history_processors=[note]).run("hi")

        anyio.run(run)
    assert windows == [seen]
