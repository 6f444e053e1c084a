"""A real Postgres server for the tests that need one, started on a loopback port.

`postgres_server(folder)` runs `initdb` and `pg_ctl` (Debian's `postgresql` package) in a
temporary folder, as the unprivileged user `nobody` when the tests run as root (Postgres
refuses to run as root), trusts local connections only, and stops the server on exit. Tests
skip, saying why, only when the binaries cannot be found.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], env: dict[str, str], timeout: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    if owner is None:
        return command
    return ["setpriv", "--reuid", owner, "--regid", "nogroup", "--clear-groups", *command]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start Postgres in a temporary folder; yield its URL (database `postgres`)."""
    binaries = _binaries()
    if binaries is None:
        pytest.skip("Postgres is not installed (Debian: apt-get install postgresql)")
    owner = "nobody" if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: its parents are private to root, and `nobody` must reach it.
    holder = Path(tempfile.mkdtemp(prefix="agentkit-pg-"))
    holder.chmod(0o711)
    folder = holder / "server"
    folder.mkdir()
    if owner is not None:
        shutil.chown(folder, user=owner, group="nogroup")
    data = folder / "pgdata"
    env = {**os.environ, "LC_ALL": "C"}
    _run(
        _as_owner([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                   "--no-sync"], owner),
        env, 120,
    )  # fmt: skip
    port = _free_port()
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    )
    _run(
        _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
                   "-l", str(folder / "postgres.log"), "start"], owner),
        env, 90,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                       "stop"], owner),
            capture_output=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(holder, ignore_errors=True)
