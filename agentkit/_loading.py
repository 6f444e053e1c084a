"""Layer 5 (edges): load tools and types named on the command line.

`-T files` (a ready-made tool module by name: files, web, shell, calc, clock),
`-T path/to/file.py` (every tool defined in the file), `-T package.module` (every tool in
the module), `-T module:name` (one attribute; a plain function is made into a tool). A
ready-made name wins over a module of yours with the same name: write `-T ./files.py` then.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any

from ._exceptions import AgentkitError
from ._tool import BaseTool, tool

__all__ = ["LoadError", "load_module", "load_object", "load_tools"]


class LoadError(AgentkitError):
    """A tool or type named on the command line cannot be loaded."""


def load_tools(spec: str) -> list[BaseTool]:
    """The tools a `-T` value names.

    Raises:
        LoadError: The file, module or attribute does not exist, or holds no tools.
    """
    module_part, attribute = _split(spec)
    module = _module(module_part)
    if attribute:
        value = _attribute(module, attribute, spec)
        if isinstance(value, BaseTool):
            return [value]
        if callable(value):
            return [tool(value)]
        raise LoadError(f"{spec}: {attribute!r} is neither a tool nor a function")
    found = [value for value in vars(module).values() if isinstance(value, BaseTool)]
    if not found:
        raise LoadError(f"{spec}: defines no tools (decorate functions with @tool)")
    return found


def load_module(spec: str) -> ModuleType:
    """The module a `module` or `path/to/file.py` value names, imported (once)."""
    return _module(spec)


def load_object(spec: str) -> Any:
    """The attribute a `module:name` (or `file.py:name`) value names."""
    module_part, attribute = _split(spec)
    if not attribute:
        raise LoadError(f"{spec!r}: expected module:Name or path/to/file.py:Name")
    return _attribute(_module(module_part), attribute, spec)


def _split(spec: str) -> tuple[str, str]:
    """`module:name` or `path/file.py:name` into its parts (no name: "")."""
    before, separator, after = spec.rpartition(":")
    if separator and before and after.isidentifier():
        return before, after
    return spec, ""


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _module(name: str) -> ModuleType:
    from .tools import NAMES

    if name in NAMES:
        return importlib.import_module(f"agentkit.tools.{name}")
    if _is_path(name):
        path = Path(name)
        if not path.is_file():
            raise LoadError(f"{name}: no such file")
        # A name stable across processes (hash() is salted per process): a batch resumed in
        # a new process must see the same task.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        module_name = f"agentkit_loaded_{path.stem}_{digest}"
        loader = importlib.util.spec_from_file_location(module_name, path)
        if loader is None or loader.loader is None:
            raise LoadError(f"{name}: not a Python file")
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module  # dataclasses and pydantic look modules up
        loader.loader.exec_module(module)
        return module
    try:
        with _cwd_importable():
            return importlib.import_module(name)
    except ModuleNotFoundError as error:
        close = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.5)
        if error.name == name and close:
            raise LoadError(
                f"{name}: no module of that name; did you mean the ready-made {close[0]!r} "
                f"(-T {close[0]})? The ready-made tools: {', '.join(NAMES)}"
            ) from None
        raise LoadError(f"{name}: no module named {error.name!r}") from None


@contextmanager
def _cwd_importable() -> Iterator[None]:
    """Modules in the current directory load, like `python -m`, while loading only.

    Library code (`run_batch`) reaches this: the directory must not stay on `sys.path`.
    """
    cwd = str(Path.cwd())
    if cwd in sys.path:
        yield
        return
    sys.path.insert(0, cwd)
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(cwd)


def _attribute(module: ModuleType, attribute: str, spec: str) -> Any:
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise LoadError(f"{spec}: the module has no {attribute!r}") from None
