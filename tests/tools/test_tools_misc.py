"""tools/calc.py, tools/clock.py and tools/shell.py."""

from __future__ import annotations

import datetime
import sys

import pytest

from agentkit import Agent
from agentkit.testing import FakeModel, Reply
from tests.ready_tools import load

calc = load("calc")
clock = load("clock")
shell = load("shell")


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("2 * (3 + 4) ** 2", "98"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-2 ** 2", "-4"),
        ("sqrt(16) + pi - pi", "4"),
        ("max(1, 5, 3)", "5"),
        ("factorial(5)", "120"),
        ("0.1 + 0.2", "0.3"),
    ],
)
def test_calculations(expression: str, result: str) -> None:
    assert calc.calculate(expression) == result


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("__import__('os').system('true')", "unsupported element"),
        ("().__class__", "unsupported element"),
        ("2 ** 100000", "exponents are limited"),
        ("factorial(10000)", "factorial is limited"),
        ("2 +", "cannot parse"),
        ("2,340 * 2", "thousands separators"),
        ("sqrt(-1)", "sqrt: math domain error"),
        ("x" * 600, "longer than 500"),
    ],
)
def test_calculation_errors_are_clear(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calc.calculate(expression)


def test_clock_tools() -> None:
    now = datetime.datetime.fromisoformat(clock.current_time("Asia/Tokyo"))
    assert now.utcoffset() == datetime.timedelta(hours=9)
    assert clock.convert_time("2026-07-01T12:00", "Europe/Paris", "UTC") == "2026-07-01T10:00+00:00"
    assert clock.add_to_date("2026-02-27", days=2) == "2026-03-01"
    assert clock.add_to_date("2026-02-27T23:30", minutes=45) == "2026-02-28T00:15"
    assert clock.days_between("2026-01-01", "2026-12-25") == 358
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        clock.current_time("Mars/Olympus")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        clock.days_between("yesterday", "2026-01-01")


def test_shell_always_requires_approval() -> None:
    assert shell.run_command.requires_approval
    model = FakeModel([Reply.tool_calls(("run_command", {"command": "touch /tmp/never"})), "ok"])
    result = Agent(model, tools=[shell.run_command]).run_sync("go")
    assert "needs approval" in str(result.messages[2].content)


@pytest.mark.anyio
async def test_shell_runs_with_timeout_and_output_limit() -> None:
    ok = await shell.run_command(f"{sys.executable} -c \"print('hi there')\"")
    assert ok == "exit code 0\nhi there\n"
    failing = await shell.run_command(f'{sys.executable} -c "import sys; sys.exit(3)"')
    assert failing.startswith("exit code 3")
    big = await shell.run_command(f"{sys.executable} -c \"print('x' * 50000)\"")
    assert "[output cut: kept 16384 of 50001 bytes; 33617 dropped]" in big
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.5 s"):
        await shell.run_command(f'{sys.executable} -c "import time; time.sleep(5)"', time_limit=0.5)
    with pytest.raises(FileNotFoundError, match="no such command"):
        await shell.run_command("definitely-not-a-command-xyz")
    no_shell = await shell.run_command("echo $HOME > /tmp/agentkit-shell-test")
    assert no_shell == "exit code 0\n$HOME > /tmp/agentkit-shell-test\n"


def test_huge_results_are_refused_before_they_are_computed() -> None:
    """(9**9999)**999 took 9.8 s and (9**9999)**9999 never finished; both are refused now."""
    for expression in ("(9**9999)**999", "(9**9999)**9999", "9**4000 * 9**4000", "3**10000"):
        with pytest.raises(ValueError, match="more than 4000 digits"):
            calc.calculate(expression)
    assert len(calc.calculate("9**4000")) == 3817
    assert calc.calculate.timeout == 5


@pytest.mark.anyio
async def test_shell_output_is_read_incrementally_and_capped() -> None:
    script = "import sys\nfor _ in range(2000): sys.stdout.write('x' * 65536)"
    result = await shell.run_command(f'{sys.executable} -c "{script}"')
    total = 2000 * 65536
    assert f"[output cut: kept 16384 of {total} bytes; {total - 16384} dropped]" in result
    assert len(result) < 17_000


@pytest.mark.anyio
async def test_shell_kills_the_whole_process_group_on_timeout() -> None:
    import anyio

    marker = "57.4321"
    with pytest.raises(TimeoutError, match="was stopped"):
        await shell.run_command(f'bash -c "sleep {marker} & sleep 58.4321"', time_limit=0.5)
    left = await anyio.run_process(["pgrep", "-f", f"sleep {marker}"], check=False)
    assert left.stdout == b""


@pytest.mark.anyio
async def test_shell_returns_when_a_background_child_keeps_the_output_open() -> None:
    result = await shell.run_command('bash -c "sleep 30.4321 & echo started"', time_limit=20)
    assert result == "exit code 0\nstarted\n"


@pytest.mark.anyio
async def test_shell_runs_with_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-never-shown")
    monkeypatch.setenv("SHELL_TEST_EXTRA", "passed")
    plain = await shell.run_command("env")
    assert "sk-never-shown" not in plain
    assert "PATH=" in plain
    assert "SHELL_TEST_EXTRA" not in plain
    wider = shell.shell_tool(pass_env=["SHELL_TEST_EXTRA"], env={"GREETING": "hi"})
    more = await wider("env")
    assert "SHELL_TEST_EXTRA=passed" in more
    assert "GREETING=hi" in more
    assert "sk-never-shown" not in more
