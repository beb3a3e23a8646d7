"""The layout of ``docs/ARCHITECTURE.md``: no import cycle, no import against the flow, no giant.

Every module of ``src/segmint`` belongs to one layer; a module may import only from its own
layer or a lower one, and modules import each other in no cycle. Imports are read with ``ast``
from the source text, so imports inside functions and under ``TYPE_CHECKING`` count too.
Run it alone with ``make test PYTEST_ARGS=tests/test_architecture.py`` or
``.venv/bin/python -m pytest tests/test_architecture.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "segmint"

#: Layers from the bottom up (docs/ARCHITECTURE.md, "Layers"). A key is a module or a package
#: prefix; the longest matching key wins.
LAYERS: dict[str, int] = {
    "segmint.errors": 0,
    "segmint._parallel": 0,
    "segmint._startup": 0,
    "segmint._versions": 0,
    "segmint._display": 0,
    "segmint.schema": 1,
    "segmint.presets": 1,
    "segmint._pseudonym": 1,
    "segmint.io": 2,
    "segmint.synth": 2,
    "segmint._synth_customers": 2,
    "segmint._synth_plan": 2,
    "segmint._synth_rows": 2,
    "segmint._synth_moves": 2,
    "segmint.engines": 3,
    "segmint.rules": 4,
    "segmint._sort_rules": 4,
    "segmint.clean": 5,
    "segmint._bad_values": 5,
    "segmint.quality": 5,
    "segmint.features": 6,
    "segmint.windows": 6,
    "segmint.cluster": 7,
    "segmint.model": 8,
    "segmint.persist": 8,
    "segmint.drift": 8,
    "segmint.report": 9,
    "segmint.spark": 10,
    "segmint._checks": 11,
    "segmint._engine_choice": 11,
    "segmint._described": 11,
    "segmint._export": 11,
    "segmint.pipeline": 11,
    "segmint.scoring": 11,
    "segmint.track": 11,
    "segmint.cli": 12,
    "segmint": 13,  # the package's __init__: the public API, imported lazily
}

#: Lines a module may have at most.
MAX_LINES = 800


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The segmint modules ``name`` imports (``from a import b`` counts ``a.b`` if a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module pkg.mod (pkg's __init__ runs anyway,
            # as for every import below pkg); ``from mod import name`` imports mod
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t for t in submodules if t in known] or [base]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def _layer(module: str) -> int:
    keys = [k for k in LAYERS if module == k or module.startswith(k + ".")]
    if not keys:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS and ARCHITECTURE.md")
    return LAYERS[max(keys, key=len)]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # a module importing ``segmint.x.y`` also runs the packages above it: not an edge we
    # count, since package __init__ files here import nothing heavy of their children
    return graph


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_no_import_points_up_the_flow() -> None:
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, targets in _graph().items()
        for b in sorted(targets)
        if _layer(b) > _layer(a)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_is_not_a_giant(module: str) -> None:
    lines = len(_modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines, more than {MAX_LINES}; split it"


def test_architecture_doc_names_every_module() -> None:
    doc = (PACKAGE.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(PACKAGE.parent))
        for name, path in _modules().items()
        if path.name != "__init__.py" and path.relative_to(PACKAGE).as_posix() not in doc
    ]
    assert not missing, f"docs/ARCHITECTURE.md does not describe {missing}"
