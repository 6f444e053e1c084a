"""What reaches a terminal: escaped, and nothing else while an approval prompt is open.

The prompt test runs `agentkit run` on a real pseudo-terminal, against a model that streams
escape sequences (clear the screen, move the cursor, a fake argument line) in its text, its
arguments and a tool's result.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentkit import ApprovalRequest, ToolCall
from agentkit._visible import printable, visible
from agentkit.testing import MockChatServer, Reply

ROOT = Path(__file__).resolve().parents[2]
TOOLS = str(Path(__file__).parents[1] / "terminal_tools.py")
ESC = "\x1b"
FAKE_LINE = f'{ESC}[2K{ESC}[1A\r    path = "/tmp/cache.db"'


@pytest.mark.parametrize(
    "hidden", ["\x1b", "\x9b", "\u202e", "\u3164", "\u2800", "\u0336", "\u200b", "\u2028", "\ufeff"]
)
def test_visible_escapes_what_a_terminal_would_hide_or_obey(hidden: str) -> None:
    shown = visible(f"a{hidden}b")
    assert hidden not in shown
    assert shown.startswith("a\\")
    assert shown.endswith("b")


def test_printable_keeps_lines_and_letters_but_not_controls() -> None:
    assert printable("Größe\n\tÆ 東京") == "Größe\n\tÆ 東京"
    assert printable(f"x{ESC}[2Jy") == "x\\x1b[2Jy"
    assert "\u202e" not in printable("a\u202eb")


def test_names_and_values_of_a_call_are_shown_escaped() -> None:
    call = ToolCall(id="1", name="delete\u3164", arguments="{}")
    text, _ = ApprovalRequest(call, {f"pa{ESC}[1Ath": f"/home/me{FAKE_LINE}"}).describe()
    assert ESC not in text
    assert "\u3164" not in text
    assert "\\u3164" in text


def _read(master: int, until: bytes, seconds: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while until not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_nothing_redraws_the_approval_prompt() -> None:
    with MockChatServer() as server:
        server.add(
            Reply.tool_calls(
                ("slow_echo", {"text": f"late{FAKE_LINE}"}),
                ("delete_file", {"path": f"/home/me/thesis{FAKE_LINE}"}),
                content=f"Cleaning up{ESC}[2J{ESC}[H",
            ),
            Reply.text(f"Done{ESC}]0;owned{ESC}\\"),
        )
        env = {**os.environ, "AIMLAPI_API_KEY": "k", "AIMLAPI_BASE_URL": server.base_url,
               "TERM": "xterm"}  # fmt: skip
        master, slave = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "agentkit", "run", "clean up", "-T", TOOLS, "--stream", "-v",
             "--no-session"],
            cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        try:
            before = _read(master, b"[y/N", 30)
            assert b"[y/N" in before, before
            time.sleep(1.5)  # slow_echo ends meanwhile: its trace line must wait
            during = _read(master, b"\x00", 0.5)
            os.write(master, b"n\n")
            after = _read(master, b"Done", 30)
            after += _read(master, b"\x00", 1.0)
            assert process.wait(timeout=30) == 5  # a call was denied
        finally:
            process.kill()
            os.close(master)
    screen = before + during + after
    assert ESC.encode() not in screen
    assert b"\x9b" not in screen
    assert b"\\x1b[2J" in before  # the streamed text, shown escaped
    assert b'thesis\\u001b[2K\\u001b[1A\\r    path = \\"/tmp/cache.db' in before
    assert b"slow_echo" not in during.replace(b"\r", b"")
    assert b"-> slow_echo" in after
