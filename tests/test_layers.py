"""Imports only point down the layers listed in the "General layout" comment of __init__.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentkit"
_LAYER_LINE = re.compile(r"^# (\d+)\. [^:]+: (.+)$")
_CONTINUED = re.compile(r"^#\s{3,}(\S.*)$")


def layers(
    init: Path = PACKAGE / "__init__.py", heading: str = "# General layout."
) -> dict[str, int]:
    """Map each module named in a layout comment to its layer (or row) number."""
    text = init.read_text()
    assert heading in text
    found: dict[str, int] = {}
    layer = None
    for line in text.splitlines():
        match = _LAYER_LINE.match(line)
        continued = _CONTINUED.match(line) if layer is not None else None
        if match:
            layer, names = int(match.group(1)), match.group(2)
        elif continued:  # a long layer goes on in an indented comment line
            names = continued.group(1)
        else:
            layer = None
            continue
        for module in names.split("(")[0].split(","):
            if module.strip():
                found[module.strip()] = layer
    return found


MODELS = PACKAGE / "models"


def model_rows() -> dict[str, int]:
    """The rows of the model layer's own layout comment (agentkit/models/__init__.py)."""
    return layers(MODELS / "__init__.py", "# Layout of this package.")


def top_module(path: Path) -> str:
    """The layer unit a file belongs to: `_tool` for _tool.py, `batch` for batch/journal.py."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def package_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py"]


def imported_units(source: str, package: tuple[str, ...], depth: int = 1) -> set[str]:
    """The agentkit layer units a module's source imports.

    Args:
        source: The module's source text.
        package: The dotted package the module lives in, e.g. ("agentkit",).
        depth: 1 for the package's units (`_tool`, `models`); 2 for the modules inside
            `agentkit.models` (`_chat`, `_base`; other imports are left out).
    """
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = [*base, *filter(None, (node.module or "").split("."))]
            if node.module:
                targets.add(".".join(module))
            else:  # from . import x
                targets.update(".".join([*module, alias.name]) for alias in node.names)
    units = set()
    for target in targets:
        parts = target.split(".")
        if depth == 2:
            if parts[:2] == ["agentkit", "models"]:
                units.add(parts[2] if len(parts) > 2 else "__init__")
        elif parts[0] == "agentkit":
            units.add(parts[1] if len(parts) > 1 else "__init__")
    return units


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:`: type-only imports are not imports at
    run time, and a lower layer may name a higher one's type in an annotation."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def test_every_module_has_a_layer() -> None:
    unplaced = sorted({top_module(path) for path in package_files()} - set(layers()))
    assert unplaced == [], f"add these modules to the General layout comment: {unplaced}"


def parsed_imports() -> dict[Path, set[str]]:
    """Parse every module once, at collection (CPython 3.11's parser can trip over the
    recursion limit that hypothesis adjusts while tests run)."""
    found = {}
    for path in package_files():
        package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
        found[path] = imported_units(path.read_text(), package)
    return found


IMPORTS = parsed_imports()


@pytest.mark.parametrize("path", sorted(IMPORTS), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_own_or_lower_layers(path: Path) -> None:
    layout = layers()
    unit = top_module(path)
    for imported in IMPORTS[path] - {unit}:
        assert imported != "__init__", f"{path.name} imports the package surface; import modules"
        assert layout[imported] <= layout[unit], (
            f"{path.relative_to(PACKAGE)} (layer {layout[unit]}) imports {imported} "
            f"(layer {layout[imported]})"
        )


def test_the_checker_finds_relative_absolute_and_nested_imports() -> None:
    source = "from ._journal import J\nimport agentkit._messages\nfrom .. import _schema\n"
    assert imported_units(source, ("agentkit", "batch")) == {"batch", "_messages", "_schema"}
    assert imported_units("from ._tool import Tool\n", ("agentkit",)) == {"_tool"}
    assert imported_units("import agentkit\n", ("agentkit",)) == {"__init__"}
    assert imported_units("from . import _tool\n", ("agentkit",)) == {"_tool"}
    in_a_function = "def f():\n    from ._loop import x\n"
    assert imported_units(in_a_function, ("agentkit",)) == {"_loop"}
    type_only = "if TYPE_CHECKING:\n    from ._events import R\nelse:\n    import agentkit._loop\n"
    assert imported_units(type_only, ("agentkit",)) == {"_loop"}


def test_the_layout_puts_the_tool_layer_above_conversation_data() -> None:
    layout = layers()
    assert layout["_exceptions"] < layout["_messages"] < layout["_tool"]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the directed graph, as the units on it (first repeated at the end), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(unit: str) -> list[str] | None:
        if unit in visiting:
            return [*visiting[visiting.index(unit) :], unit]
        if unit in done:
            return None
        visiting.append(unit)
        for target in sorted(graph.get(unit, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(unit)
        return None

    return next((cycle for unit in sorted(graph) if (cycle := visit(unit))), None)


def test_no_import_cycle_inside_a_layer() -> None:
    """Imports inside functions count: a cycle hidden in a function is still a cycle."""
    layout = layers()
    graph: dict[str, set[str]] = {}
    for path, imported in IMPORTS.items():
        unit = top_module(path)
        same_layer = {
            other for other in imported - {unit, "__init__"} if layout[other] == layout[unit]
        }
        graph.setdefault(unit, set()).update(same_layer)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"cli": {"batch"}, "batch": {"cli"}}) == ["batch", "cli", "batch"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


MODEL_FILES = sorted(p for p in MODELS.glob("*.py") if p.name != "__init__.py")
MODEL_IMPORTS = {
    path: imported_units(path.read_text(), ("agentkit", "models"), depth=2) for path in MODEL_FILES
}


def test_every_model_module_has_a_row() -> None:
    unplaced = sorted({p.stem for p in MODEL_FILES} - set(model_rows()))
    assert unplaced == [], f"add these to the layout comment of models/__init__.py: {unplaced}"


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_modules_import_only_their_own_or_lower_rows(path: Path) -> None:
    rows = model_rows()
    for imported in MODEL_IMPORTS[path] - {path.stem}:
        assert imported != "__init__", f"{path.name} imports agentkit.models; import modules"
        assert rows[imported] <= rows[path.stem], (
            f"models/{path.name} (row {rows[path.stem]}) imports {imported} (row {rows[imported]})"
        )


def test_no_import_cycle_inside_a_row_of_the_model_layer() -> None:
    rows = model_rows()
    graph = {
        path.stem: {m for m in imported - {"__init__"} if rows[m] == rows[path.stem]}
        for path, imported in MODEL_IMPORTS.items()
    }
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_the_model_row_checker_reads_package_relative_imports() -> None:
    source = "from ._chat import ChatModel\nfrom agentkit._tool import Tool\nimport agentkit.models._base\n"
    assert imported_units(source, ("agentkit", "models"), depth=2) == {"_chat", "_base"}
    assert imported_units(source, ("agentkit", "models")) == {"models", "_tool"}


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md stays the map of the package: a new module must be placed there."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(\w+)`", page))
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {p.stem for p in MODELS.glob("*.py")}
    modules |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    missing = sorted(modules - named - {"__init__"})
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
