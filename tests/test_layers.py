"""The layers of docs/architecture.md, enforced: every ``edgeseg`` import (at module level or inside a
function) goes to the same or a lower layer, and no two files import each other, directly or round
a circle. The imports are read with ``ast``, so nothing is imported to check them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgeseg"
DOC = ROOT / "docs" / "architecture.md"

#: Imports that go up a layer on purpose, with the reason (docs/architecture.md lists them too). None
#: today: the export parity check takes its ONNX opener from the caller (``open_onnx``).
ALLOWED_UP: set[tuple[str, str]] = set()


def documented_layers(text: str) -> list[list[str]]:
    """The numbered list under '## Layers' in docs/architecture.md: one layer per item, lowest first,
    its modules in backticks before the first colon."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers = []
    for line in section.splitlines():
        m = re.match(r"^\d+\.\s+(.*?):", line)
        if m:
            layers.append(re.findall(r"`([\w.]+)`", m.group(1)))
    return layers


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package (``__init__`` = the package)."""
    out = {}
    for p in sorted(package.rglob("*.py")):
        parts = list(p.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported edgeseg module, line) for every import statement in the file, nested ones included.
    ``from pkg import x`` counts as importing ``pkg.x`` when that is a module, else ``pkg``."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t not in known and "." in t:  # `import edgeseg.x.y` of a name inside a module
                t = t.rpartition(".")[0]
            if t.split(".")[0] == "edgeseg" and t != name:
                found.append((t, node.lineno))
    return found


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    """The layer of the longest documented prefix of ``module`` (None: not placed in any layer)."""
    best, where = -1, None
    for i, names in enumerate(layers):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, where = len(n), i
    return where


def upward_imports(graph: dict[str, list[tuple[str, int]]], layers: list[list[str]]) -> list[str]:
    bad = []
    for src, targets in graph.items():
        for dst, line in targets:
            if (src, dst) in ALLOWED_UP:
                continue
            a, b = layer_of(src, layers), layer_of(dst, layers)
            if a is not None and b is not None and b > a:
                bad.append(f"{src}:{line} imports {dst} (layer {b + 1} above {a + 1})")
    return bad


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """The strongly connected groups of more than one file (Tarjan), each sorted."""
    edges = {m: sorted({d for d, _ in ts if d in graph}) for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, list[tuple[str, int]]]:
    files = module_files(package)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


LAYERS = documented_layers(DOC.read_text(encoding="utf-8"))
GRAPH = import_graph()


def test_the_doc_lists_the_layers_and_places_every_module():
    assert len(LAYERS) >= 8, "docs/architecture.md: '## Layers' should be a numbered list, lowest first"
    unplaced = [m for m in GRAPH if layer_of(m, LAYERS) is None]
    assert not unplaced, f"modules in no layer of docs/architecture.md: {unplaced}"


def test_no_import_goes_up_a_layer():
    assert upward_imports(GRAPH, LAYERS) == []


def test_no_file_level_import_cycle():
    assert cycles(GRAPH) == []


def test_allowed_upward_imports_still_exist_and_are_documented():
    doc = DOC.read_text(encoding="utf-8")
    for src, dst in ALLOWED_UP:
        assert dst in {d for d, _ in GRAPH[src]}, f"{src} no longer imports {dst}: drop it from ALLOWED_UP"
        assert src.replace("edgeseg.", "").replace(".", "/") in doc, (
            f"{src} -> {dst} is not explained in the doc"
        )


@pytest.mark.parametrize(
    "where, plant, finds",
    [
        ("data/_info.py", "from edgeseg.commands._args import positive_int\n", "upward"),
        ("data/_info.py", "from edgeseg.train import loop\n", "upward"),
        ("data/_info.py", "def f():\n    from edgeseg.backends import BACKENDS\n", "upward"),  # nested counts
        (
            "data/_info.py",
            "from . import _scene\n",
            "cycle",
        ),  # relative: data._info -> _scene -> _canvas -> _info
        # the exception this test used to allow: parity opening the ONNX with the backend's runner itself
        ("export/parity.py", "from edgeseg.backends.onnxruntime.runner import OrtRunner\n", "upward"),
        ("onnxgraph/info.py", "from edgeseg.quant import pipeline\n", "upward"),  # graph tools below quant
    ],
)
def test_a_planted_fault_is_found(tmp_path, where, plant, finds):
    """Copies of the package with one planted import: the same checks go red."""
    import shutil

    copy = tmp_path / "edgeseg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "weights"))
    target = copy / where
    target.write_text(target.read_text(encoding="utf-8") + "\n" + plant, encoding="utf-8")
    graph = import_graph(copy)
    module = "edgeseg." + where[: -len(".py")].replace("/", ".")
    if finds == "upward":
        assert any(b.startswith(module + ":") for b in upward_imports(graph, LAYERS))
    else:
        assert any(module in c and "edgeseg.data._scene" in c for c in cycles(graph))
