"""The layers hold: every import in src/int8ptq (at module level, inside functions, under
TYPE_CHECKING) points down the declared layer order or sideways within a layer, no two units
import each other (directly or through others), and only runtime/ imports a backend.

A unit is a top-level package or module of int8ptq (`ir`, `calib`, `tune`, `cli`...); the
root package `int8ptq/__init__.py` (the lazy public facade) is the unit `int8ptq`."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "int8ptq"

# lowest first; a unit may import units of its own layer or below, never above
LAYERS: list[set[str]] = [
    {"errors", "util", "version", "metrics"},
    {"ir"},
    {"data", "zoo"},
    {"runtime"},
    {"passes"},
    {"calib", "quant"},
    # the stages, and evaluation beside them
    {"config", "algorithms", "hotspots", "pipeline", "eval", "shard"},
    {"api", "tune", "reproduce", "demo", "config_yaml", "int8ptq"},
    {"cli", "__main__"},
]
BACKENDS = ("onnxruntime", "openvino")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module, line) for every import in the file, wherever it is written."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{a.name}"
                out.append((sub if _is_module(sub) else target, node.lineno))
    return out


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "int8ptq":
        return None
    return parts[1] if len(parts) > 1 else "int8ptq"


def _edges() -> dict[tuple[str, str], str]:
    """(from unit, to unit) -> where the first such import is written."""
    edges: dict[tuple[str, str], str] = {}
    for path in sorted(PKG.rglob("*.py")):
        src = _unit(_module_name(path))
        assert src is not None
        for target, line in _imports(path):
            dst = _unit(target)
            if dst is not None and dst != src:
                edges.setdefault((src, dst), f"{path.relative_to(SRC)}:{line} imports {target}")
    return edges


def _layer(unit: str) -> int:
    for k, layer in enumerate(LAYERS):
        if unit in layer:
            return k
    raise AssertionError(f"unit {unit!r} is in no layer: add it to LAYERS in {__file__}")


def _cycle(edges: dict[tuple[str, str], str]) -> list[str] | None:
    """One cycle between units (as a path a -> ... -> a), or None."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in graph.get(u, []):
            if state.get(v) == 1:
                return stack[stack.index(v) :] + [v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (found := visit(u)):
            return found
    return None


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PKG.rglob("*.py")}
    for u in sorted(u for u in units if u):
        _layer(u)


def test_no_cycle_between_units() -> None:
    edges = _edges()
    cycle = _cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle) + "\n" + "\n".join(
        edges[(a, b)] for a, b in zip(cycle, cycle[1:], strict=False)
    )


def test_imports_point_down() -> None:
    upward = [where for (a, b), where in _edges().items() if _layer(b) > _layer(a)]
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_only_runtime_imports_a_backend() -> None:
    """Nor does anything outside runtime/ import its backend modules (ort, openvino)."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        if path.is_relative_to(PKG / "runtime"):
            continue
        for target, line in _imports(path):
            top = target.split(".")[0]
            if top in BACKENDS or target in ("int8ptq.runtime.ort", "int8ptq.runtime.openvino"):
                bad.append(f"{path.relative_to(SRC)}:{line} imports {target}")
    assert not bad, "backend code outside runtime/ (use int8ptq.runtime's make_runner):\n" + "\n".join(bad)


def test_the_checks_see_what_they_must() -> None:
    """The checker itself: an import inside a function counts, and a known cycle is found."""
    lazy = [t for t, _ in _imports(PKG / "runtime" / "factory.py")]  # make_runner imports ort lazily
    assert "int8ptq.runtime.ort" in lazy
    assert _cycle({("a", "b"): "", ("b", "c"): "", ("c", "a"): ""}) == ["a", "b", "c", "a"]
    assert _cycle({("a", "b"): "", ("b", "c"): ""}) is None
    assert _unit("int8ptq.ir.graph") == "ir" and _unit("int8ptq") == "int8ptq" and _unit("numpy") is None
