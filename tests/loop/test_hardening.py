"""What a hostile model and odd tools broke in the loop, and what must keep holding."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from agentkit import (
    DEFAULT_MAX_RESULT_CHARS,
    DEFAULT_TOOL_TIMEOUT,
    Agent,
    ApprovalRequest,
    Completion,
    ModelRequest,
    ModelResponseError,
    ToolCall,
    tool,
)
from agentkit.testing import FakeModel, Reply
from tests.agents import tool_messages

pytestmark = pytest.mark.anyio

SPOOF = '{"command": "ls -la", "time_limit": 5, ' + " " * 200 + '"command": "touch pwned.txt"}'


@tool(requires_approval=True)
def run_command(command: str, time_limit: float = 30.0) -> str:
    """Run a command.

    Args:
        command: The command line.
        time_limit: Seconds.
    """
    return f"ran {command}"


async def test_a_repeated_key_is_invalid_and_nothing_runs_or_is_asked() -> None:
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    model = FakeModel([Reply.tool_calls(("run_command", SPOOF)), "ok"])
    result = await Agent(model, tools=[run_command], approver=approve).run("go")
    (message,) = tool_messages(result.messages)
    assert "'command' appears more than once" in message.content
    assert "ran" not in message.content
    assert asked == []


async def test_the_approver_decides_on_the_validated_arguments() -> None:
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return request.arguments["command"] == "ls"

    model = FakeModel([Reply.tool_calls(("run_command", '{"command": "ls"}')), "ok"])
    result = await Agent(model, tools=[run_command], approver=approve).run("go")
    assert tool_messages(result.messages)[0].content == "ran ls"
    (request,) = asked
    assert request.name == "run_command"
    assert dict(request.arguments) == {"command": "ls"}  # what the call passes; defaults are code


def test_an_approval_shows_every_value_escaped() -> None:
    request = ApprovalRequest(
        ToolCall(id="c", name="run_command", arguments="{}"),
        {"command": "ls\n\x1b[2Jrm -rf ~ \u202etxt.exe", "time_limit": 5},
    )
    text, cut = request.describe()
    assert not cut
    assert text.splitlines() == [
        "run_command(",
        '    command = "ls\\n\\u001b[2Jrm -rf ~ \\u202etxt.exe"',
        "    time_limit = 5",
        ")",
    ]
    assert all(line.isprintable() for line in text.splitlines())


def test_a_long_value_is_cut_visibly_and_shown_whole_on_request() -> None:
    request = ApprovalRequest(ToolCall(id="c", name="f", arguments="{}"), {"text": "a" * 1000})
    short, cut = request.describe(limit=100)
    assert cut
    assert "[902 more characters not shown]" in short  # the JSON quotes count too
    full, cut = request.describe(limit=None)
    assert not cut
    assert "a" * 1000 in full


# -- tools that misbehave: each failure goes back to the model --------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


@tool
def lone_surrogate() -> str:
    """Return broken text."""
    return "bad \ud800 text"


@tool
def unprintable_error() -> str:
    """Raise an exception whose message cannot be read."""
    raise Unprintable


@tool
def exits() -> str:
    """Call sys.exit."""
    sys.exit(3)


@tool
async def exits_async() -> str:
    """Call sys.exit from async code."""
    raise SystemExit(4)


@tool
def not_a_number() -> dict[str, float]:
    """Return NaN and infinity."""
    return {"v": float("nan"), "w": float("inf"), "label": "NaN is fine in a string"}


@tool
def words_are_fine() -> dict[str, str]:
    """Return the words NaN and Infinity as text."""
    return {"v": "NaN", "w": "Infinity"}


@pytest.mark.parametrize(
    ("bad_tool", "expected"),
    [
        (lone_surrogate, "not valid Unicode (a lone surrogate at position 4)"),
        (unprintable_error, "raised Unprintable: (its message could not be read"),
        (exits, "raised SystemExit: 3"),
        (exits_async, "raised SystemExit: 4"),
        (not_a_number, "returned NaN or infinity"),
    ],
    ids=lambda value: getattr(value, "name", "")[:20],
)
async def test_odd_tool_failures_go_back_to_the_model(bad_tool: Any, expected: str) -> None:
    model = FakeModel([Reply.tool_calls((bad_tool.name, {})), "recovered"])
    result = await Agent(model, tools=[bad_tool]).run("go")
    assert result.output == "recovered"
    (message,) = tool_messages(result.messages)
    assert expected in message.content
    json.dumps(message.content).encode()  # whatever is sent back is valid JSON and UTF-8


async def test_the_words_nan_and_infinity_in_strings_are_not_refused() -> None:
    model = FakeModel([Reply.tool_calls(("words_are_fine", {})), "ok"])
    result = await Agent(model, tools=[words_are_fine]).run("go")
    assert tool_messages(result.messages)[0].content == '{"v":"NaN","w":"Infinity"}'


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_keyboard_interrupt_in_a_tool_stops_the_run(backend: str) -> None:
    """Ctrl-C is the person, not the tool: the run stops (in a subprocess, not this pytest)."""
    script = textwrap.dedent(
        f"""
        import anyio
        from agentkit import Agent, tool
        from agentkit.testing import FakeModel, Reply

        @tool
        async def interrupted() -> str:
            \"\"\"Stand for Ctrl-C arriving while the tool runs.\"\"\"
            raise KeyboardInterrupt

        async def main():
            model = FakeModel([Reply.tool_calls(("interrupted", {{}})), "never"])
            print((await Agent(model, tools=[interrupted]).run("go")).output)

        anyio.run(main, backend={backend!r})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "never" not in done.stdout
    assert "KeyboardInterrupt" in done.stderr


# -- bounds by default -------------------------------------------------------------------


def test_tools_have_a_timeout_and_a_result_cap_by_default() -> None:
    assert run_command.timeout == DEFAULT_TOOL_TIMEOUT == 120.0
    assert run_command.max_result_chars == DEFAULT_MAX_RESULT_CHARS == 100_000
    unbounded = tool(name="unbounded", timeout=None, max_result_chars=None)(lambda: "x")
    assert (unbounded.timeout, unbounded.max_result_chars) == (None, None)


async def test_a_huge_result_is_cut_with_a_note_to_the_model() -> None:
    @tool(max_result_chars=1_000)
    def huge() -> str:
        """Return a lot."""
        return "x" * 50_000

    @tool(max_result_chars=None)
    def whole() -> str:
        """Return a lot, all of it."""
        return "y" * 50_000

    model = FakeModel([Reply.tool_calls(("huge", {}), ("whole", {})), "ok"])
    result = await Agent(model, tools=[huge, whole]).run("go")
    cut, kept = (message.content for message in tool_messages(result.messages))
    assert cut.startswith("x" * 1_000)
    assert "[result cut: 49000 of 50000 characters left out" in cut
    assert kept == "y" * 50_000


async def test_an_async_tool_that_never_returns_times_out() -> None:
    import anyio

    @tool(timeout=0.2)
    async def forever() -> str:
        """Never return."""
        await anyio.sleep_forever()
        return ""

    model = FakeModel([Reply.tool_calls(("forever", {})), "moved on"])
    result = await Agent(model, tools=[forever]).run("go")
    assert result.output == "moved on"
    assert "timed out after 0.2 s" in tool_messages(result.messages)[0].content


async def test_a_response_without_choices_is_a_response_error() -> None:
    class NoChoices:
        async def complete(self, request: ModelRequest) -> Completion:
            return Completion(id="x", model="m", created=0, choices=())

        def stream(self, request: ModelRequest) -> Any:
            raise NotImplementedError

        async def aclose(self) -> None:
            pass

    with pytest.raises(ModelResponseError, match="no choices"):
        await Agent(NoChoices()).run("hi")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_hung_sync_tool_does_not_keep_the_process_alive(backend: str) -> None:
    script = textwrap.dedent(
        f"""
        import time
        import anyio
        from agentkit import Agent, tool
        from agentkit.testing import FakeModel, Reply

        @tool(timeout=0.3)
        def hangs() -> str:
            \"\"\"Hang.\"\"\"
            time.sleep(600)
            return "never"

        async def main():
            model = FakeModel([Reply.tool_calls(("hangs", {{}})), "gave up waiting"])
            print((await Agent(model, tools=[hangs]).run("go")).output, flush=True)

        anyio.run(main, backend={backend!r})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "gave up waiting"


# -- keep holding ----------------------------------------------------------------------------


@tool
def measure(text: str) -> int:
    """Count characters.

    Args:
        text: Any text.
    """
    return len(text)


async def test_ten_megabyte_arguments_are_validated_and_run() -> None:
    big = "x" * 10_000_000
    model = FakeModel([Reply.tool_calls(("measure", {"text": big})), "ok"])
    result = await Agent(model, tools=[measure]).run("go")
    assert tool_messages(result.messages)[0].content == "10000000"


async def test_arguments_nested_ten_thousand_deep_are_refused_not_a_crash() -> None:
    deep = '{"text": ' + "[" * 10_000 + "]" * 10_000 + "}"
    model = FakeModel([Reply.tool_calls(("measure", deep)), "ok"])
    result = await Agent(model, tools=[measure]).run("go")
    assert result.output == "ok"
    assert "Error:" in tool_messages(result.messages)[0].content


async def test_hundreds_of_concurrent_runs_over_failing_http_all_succeed_no_fd_leaks() -> None:
    """200 concurrent runs, every 20th request a 500 and every 50th a reset: all answer."""
    import os

    import anyio

    from agentkit import RetryPolicy
    from agentkit.testing import Fault, MockChatServer, echo

    async def no_sleep(_: float) -> None:
        pass

    script: list[Any] = []
    for n in range(400):
        if n % 20 == 0:
            script.append(Fault.http(500))
        if n % 50 == 0:
            script.append(Fault.reset())
    fds_before = len(os.listdir("/proc/self/fd"))
    outputs: list[str] = []
    with MockChatServer(script, responder=echo) as server:
        async with server.chat_model(retry=RetryPolicy(max_retries=3, sleep=no_sleep)) as chat:

            async def one(n: int) -> None:
                outputs.append((await Agent(chat).run(f"run {n}")).output)

            async with anyio.create_task_group() as group:
                for n in range(200):
                    group.start_soon(one, n)
    assert sorted(outputs) == sorted(f"run {n}" for n in range(200))
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2


async def test_sync_tools_share_the_default_thread_limit() -> None:
    """Daemon threads per call, but no more at once than anyio's limiter allows."""
    import threading
    import time

    import anyio.to_thread

    from agentkit import LoopPolicy

    anyio.to_thread.current_default_thread_limiter().total_tokens = 3
    running, peak = 0, 0
    lock = threading.Lock()

    @tool
    def blocking(n: int) -> int:
        """Block a little.

        Args:
            n: Which.
        """
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n

    model = FakeModel([Reply.tool_calls(*[("blocking", {"n": n}) for n in range(12)]), "ok"])
    await Agent(model, tools=[blocking], policy=LoopPolicy(max_concurrency=12)).run("go")
    assert peak == 3
