"""Shell completion of the agentkit command (argcomplete, the `completion` extra).

One test drives a real interactive bash on a pseudo-terminal: the script from
`agentkit completion bash` is loaded, TAB is pressed, and the screen is read.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENTKIT = Path(sys.executable).parent / "agentkit"


def completions(line: str, tmp_path: Path) -> list[str]:
    """What the shell hook gets for `line` (argcomplete's protocol, as bash's hook runs it)."""
    out = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_IFS": "\n"}  # fmt: skip
    subprocess.run([AGENTKIT], env=env, check=True, timeout=60, stderr=subprocess.DEVNULL)
    return [word.strip() for word in out.read_text().split("\n")]


def test_commands_and_options_complete(tmp_path: Path) -> None:
    assert "run" in completions("agentkit ru", tmp_path)
    assert set(completions("agentkit run --sys", tmp_path)) == {"--system", "--system-file"}
    assert completions("agentkit batch ex", tmp_path) == ["export"]
    assert completions("agentkit completion f", tmp_path) == ["fish"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_scripts_name_the_command(shell: str) -> None:
    script = subprocess.run([AGENTKIT, "completion", shell], capture_output=True, text=True,
                            check=True, timeout=60).stdout  # fmt: skip
    assert "agentkit" in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_tab_completes_in_a_real_bash() -> None:
    master, slave = pty.openpty()
    env = {"PATH": f"{AGENTKIT.parent}:{os.environ['PATH']}", "TERM": "dumb", "HOME": "/tmp",
           "PS1": "$ "}  # fmt: skip
    bash = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)  # fmt: skip
    os.close(slave)
    screen = b""

    def read(seconds: float, until: bytes) -> None:
        nonlocal screen
        deadline = time.monotonic() + seconds
        while until not in screen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    return

    try:
        os.write(master, b'eval "$(agentkit completion bash)"; echo loaded\n')
        read(30, b"loaded\r\n")
        os.write(master, b"agentkit sessi\t")
        read(30, b"agentkit sessions")
    finally:
        bash.kill()
        bash.wait()
        os.close(master)
    assert b"agentkit sessions" in screen
