"""Layer 5 (edges): the ready-made tools, by name: `agentkit.tools.files`, `-T files`.

Their source is the `tools/` folder at the top of the repository (files, web, shell, calc,
clock); the wheel carries those modules here. In a source checkout this package finds them
in that folder, so `import agentkit.tools.files` works either way.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["NAMES"]

NAMES = ("files", "web", "shell", "calc", "clock")
"""The ready-made tool modules, loadable by name (`agentkit run -T files`)."""

_SOURCE = Path(__file__).resolve().parents[2] / "tools"
if (_SOURCE / "files.py").is_file() and (_SOURCE.parent / "pyproject.toml").is_file():
    __path__.append(str(_SOURCE))  # a source checkout (an editable install)
