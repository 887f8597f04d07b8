"""The layout rules of DESIGN.md that code can check: no import circle, no private name used
outside its module, short functions in the runner and the analysis layer."""

import ast
from pathlib import Path

import torch_ae_sad

PACKAGE = Path(torch_ae_sad.__file__).parent
#: Folders / modules whose functions must stay short (the runner and the analysis layer).
SHORT_FUNCTIONS = ("model/experiment", "model/analysis", "model/results.py")
MAX_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import of a project module in ``path`` (at any depth)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module in modules:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub, []) if sub in modules else (node.module, [alias.name]))
    return out


def test_no_import_circle():
    modules = _modules()
    graph = {name: {m for m, _ in _imports(path, modules) if m != name}
             for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError(f"import circle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_private_name_used_outside_its_module():
    modules = _modules()
    bad = [f"{name} imports {mod}.{n}" for name, path in modules.items()
           for mod, names in _imports(path, modules) for n in names
           if n.startswith("_") and not n.startswith("__")]
    assert not bad, bad


def test_runner_and_analysis_functions_are_short():
    long = []
    for rel in SHORT_FUNCTIONS:
        target = PACKAGE / rel
        for path in ([target] if target.is_file() else sorted(target.rglob("*.py"))):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = node.end_lineno - node.lineno + 1
                    if n > MAX_LINES:
                        long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                                    f"({n} lines)")
    assert not long, long
