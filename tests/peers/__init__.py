"""Servers we did not write (LiteLLM's proxy, llmock), installed and run for the conformance tests.

They live in their own virtual environment, because their pins clash with agentkit's dev
tools. It is made once per machine, on first use, from `requirements.txt` beside this file,
in the user's cache folder under the hash of that file (`~/.cache/agentkit-test-peers/HASH`;
`AGENTKIT_PEERS_DIR` moves it): every checkout of the same requirements reuses it, and a
changed file makes a new one. Building takes a few minutes (LiteLLM alone about 140 s). Each server runs as a subprocess on a
free loopback port and is stopped when its tests end.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
START_TIMEOUT = 180.0


def _venv() -> Path:
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    base = os.environ.get("AGENTKIT_PEERS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "agentkit-test-peers"
    )
    return Path(base) / wanted[:16]


def peer_command(name: str) -> Path:
    """The path of a console script of the peers' environment, installing it if needed."""
    import fcntl

    venv = _venv()
    done = venv / "installed"
    if not done.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{venv}.lock", "wb") as lock:  # two test runs build it once, in turn
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
                subprocess.run(
                    [venv / "bin" / "pip", "install", "-q", "-r", REQUIREMENTS],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                done.write_text(REQUIREMENTS.read_text())
    return venv / "bin" / name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(
    command: Sequence[str | Path], ready_url: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends; wait until `ready_url` answers 2xx first."""
    environment = {**os.environ, **(env or {})}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        environment.pop(name, None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(part) for part in command],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        try:
            _wait_ready(process, ready_url, log)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=1.0).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start in {START_TIMEOUT:.0f} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])
