"""The public API type-checks in user code: snippets checked with mypy --strict, as users run it.

`type_checks/user_code.py` must pass (every documented option of `@tool`, approvers that may
return `DEFER`, typed outputs and decisions); `type_checks/wrong_code.py` must fail, on the
lines that are wrong, so the check is known to bite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "type_checks"


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file", "/dev/null",
         str(path)],
        capture_output=True, text=True, timeout=300, check=False, cwd=HERE.parent.parent,
    )  # fmt: skip


def test_user_code_type_checks() -> None:
    checked = mypy(HERE / "user_code.py")
    assert checked.returncode == 0, checked.stdout


def test_wrong_user_code_is_caught() -> None:
    checked = mypy(HERE / "wrong_code.py")
    assert checked.returncode == 1
    assert "wrong_code.py:9: error" in checked.stdout  # max_result_chars="lots"
    assert "wrong_code.py:15: error" in checked.stdout  # approver=42
