"""The benchmark matrices committed in benchmarks/ load, and every shipped file they name exists: a
row added before its weights ship (or a renamed file) would end an hour-long bench run in a failed row."""

from pathlib import Path

import pytest

from edgeseg.bench.matrix import load_matrix

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "edgeseg" / "weights"
MATRICES = sorted((ROOT / "benchmarks").glob("*.yaml"))


def shipped_files_named(matrix) -> list[Path]:
    """Every artifact or make-step argument of ``matrix`` that points into edgeseg/weights."""
    named = []
    for row in matrix.rows:
        for arg in (row.artifact, *(a for step in row.make for a in step)):
            p = Path(str(arg))
            if not p.is_absolute():
                p = Path(matrix.workdir) / p
            if WEIGHTS in p.resolve().parents:
                named.append(p.resolve())
    return named


@pytest.mark.parametrize("path", MATRICES, ids=lambda p: p.name)
def test_committed_matrix_loads_and_names_only_shipped_weights(path):
    m = load_matrix(path)
    assert m.rows and len({r.id for r in m.rows}) == len(m.rows)
    missing = [str(p.relative_to(ROOT)) for p in shipped_files_named(m) if not p.is_file()]
    assert missing == [], f"{path.name} names weights that do not ship: {missing}"


def test_a_row_naming_unshipped_weights_is_caught(tmp_path):
    """Planted fault: a zoo row for a model whose checkpoint is not in edgeseg/weights."""
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    f = bench / "m.yaml"
    f.write_text(
        f"name: m\nvars: {{weights: {WEIGHTS}}}\nrows:\n"
        "  - {id: a, artifact: '{weights}/cgnet_camvid.pt'}\n"
        "  - {id: b, artifact: build/x.xml, make: [[export, '{weights}/no_such_model_camvid.pt', -o, "
        "x.onnx]]}\n"
    )
    named = shipped_files_named(load_matrix(f))
    assert [p.name for p in named] == ["cgnet_camvid.pt", "no_such_model_camvid.pt"]
    assert [p.name for p in named if not p.is_file()] == ["no_such_model_camvid.pt"]
