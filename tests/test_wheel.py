"""A plain install works without the repository: the wheel carries the ready-made tools."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from agentkit.testing import MockChatServer, Reply

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_runs_an_agent_with_a_ready_made_tool_by_name(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("agentkit_loop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "\nName: agentkit-loop\n" in zipfile.ZipFile(wheel).read(metadata).decode()
    for module in ("files", "web", "shell", "calc", "clock"):
        assert f"agentkit/tools/{module}.py" in names
    environment = tmp_path / "env"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True,
        timeout=600,
    )  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("hello")
    script = [Reply.tool_calls(("list_files", {})), Reply.text("There is notes.txt.")]
    with MockChatServer(script) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIML", "PYTHON"))}
        env.update(AIMLAPI_API_KEY="sk-wheel-test", AIMLAPI_BASE_URL=server.base_url)
        completed = subprocess.run(
            [environment / "bin" / "agentkit", "run", "What files are here?", "-T", "files"],
            cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "There is notes.txt.\n"
    assert server.requests[1].body["messages"][-1]["content"] == '["notes.txt"]'
    imported = subprocess.run(
        [python, "-c", "import agentkit.tools.files as f; print(f.__file__)"],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "site-packages/agentkit/tools/files.py" in imported.stdout
