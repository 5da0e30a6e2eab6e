"""The package's folders follow the data flow: no module imports from a higher layer, and
no two modules import each other (directly or through a chain), function-level imports included."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evalkit"

# low to high; a module may import its own layer and any lower one
LAYERS = (
    {"errors", "hashing", "compat", "weights", "configurable", "registry", "memory", "video", "cases", "__init__",
     "_version", "timing", "probe", "frame_repeat", "submissions", "case_ids", "protocol", "mtbench_layout"},
    {"networks"},
    {"synthetic_motion", "synthetic"},
    {"features"},
    {"metrics"},
    {"analyses", "testing"},
    {"data"},
    {"generators"},
    {"run"},
    {"report"},
    {"cli"},
)
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every evalkit module ``path`` imports (absolute names), at any depth of the file."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("evalkit"):
                out.add(target)
                out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("evalkit"))
    return out


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The module a dotted import target lives in (``evalkit.x.y.Name`` -> ``evalkit.x.y``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in RANK:
        raise AssertionError(f"{module}: top-level name {top!r} has no layer in tests/test_layers.py")
    return RANK[top]


GRAPH = {m: {r for r in map(_resolve, _imports(p)) if r and r != m} for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    up = sorted(t for t in GRAPH[module] if _layer(t) > _layer(module))
    assert not up, f"{module} (layer {_layer(module)}) imports higher layers: {up}"


def test_no_import_cycle():
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            # a package's __init__ importing its own submodules is not a cycle of ideas
            if t == m.rpartition(".")[0] or m == t.rpartition(".")[0] and MODULES[m].name == "__init__.py":
                continue
            if seen.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(MODULES):
        if m not in seen:
            visit(m)


def test_modules_stay_small():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 360}
    assert not long, f"modules over ~350 lines (split by responsibility): {long}"
