"""Matrix YAML: round trip, defaults, path resolution, typo detection, CLI overrides."""

import pytest
import yaml

from edgeseg.bench.matrix import (
    dump_matrix,
    load_matrix,
    matrix_from_artifacts,
    matrix_from_dict,
    with_overrides,
)
from edgeseg.errors import EdgesegError

MATRIX = """
name: tiny
description: two rows
data: synthetic:4
max_frames: 3
output: results/tiny.json
defaults: {size: 64x96, batch: [1, 2], threads: 2, warmup: 1, runs: 3}
reference: torch
rows:
  - id: torch
    artifact: ../w/tiny.pt
    options: {channels_last: false}
  - id: ort
    artifact: build/tiny.onnx
    runs: 7
    max_miou_drop: 0.5
    make: [export, ../w/tiny.pt, -o, "{artifact}"]
"""


def test_yaml_round_trip_and_resolution(tmp_path):
    f = tmp_path / "bench" / "m.yaml"
    f.parent.mkdir()
    f.write_text(MATRIX)
    m = load_matrix(f)
    assert [r.id for r in m.rows] == ["torch", "ort"]
    torch_row, ort_row = m.rows
    assert torch_row.artifact == str(tmp_path / "w" / "tiny.pt")
    assert m.output == str(f.parent / "results" / "tiny.json")
    assert m.workdir == str(f.parent)  # make steps run beside the matrix file
    assert torch_row.size == (64, 96) and torch_row.batch == (1, 2) and torch_row.threads == 2
    assert torch_row.options == {"channels_last": False} and ort_row.options == {}
    assert ort_row.runs == 7 and torch_row.runs == 3
    assert ort_row.make == (("export", "../w/tiny.pt", "-o", "{artifact}"),)  # one step given flat
    assert ort_row.reference == "torch" and ort_row.max_miou_drop == 0.5
    # dump -> load gives the same matrix
    again = matrix_from_dict(yaml.safe_load(dump_matrix(m)))
    assert again.to_dict() == m.to_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rows": [{"id": "a", "artifact": "x.pt", "batches": [1]}]}, "unknown key"),
        ({"rows": [{"id": "a", "artifact": "x.pt"}, {"id": "a", "artifact": "y.pt"}]}, "duplicate row id"),
        ({"rows": [{"id": "a"}]}, "missing 'artifact'"),
        ({"rows": [{"id": "a", "artifact": "x.pt", "size": "64by96"}]}, "expected HEIGHTxWIDTH"),
        ({"rows": [{"id": "a", "artifact": "x.pt", "batch": [1, 1]}]}, "distinct"),
        ({"rows": [{"id": "a", "artifact": "x.pt", "runs": 0}]}, "runs must be an integer >= 1"),
        ({"rows": [{"id": "a", "artifact": "x.pt", "reference": "b"}]}, "not in the matrix"),
        ({"rows": []}, "non-empty"),
        ({"rows": [{"id": "a", "artifact": "x.pt"}], "defualts": {}}, "unknown key"),
        ({"rows": [{"id": "a b", "artifact": "x.pt"}]}, "letters, digits"),
    ],
)
def test_bad_matrices_say_what_is_wrong(change, message):
    with pytest.raises(EdgesegError, match=message):
        matrix_from_dict({"name": "m", **change})


def test_cli_artifacts_and_overrides():
    m = matrix_from_artifacts(
        ["a/m.pt", "b/m.pt", "m.onnx"],
        size=(64, 96),
        batch=[1, 4],
        threads=2,
        warmup=1,
        runs=3,
        options={"threads": 2, "pt:channels_last": False},
        data="synthetic:4",
    )
    assert [r.id for r in m.rows] == ["m.pt", "m.pt-2", "m.onnx"]
    assert m.rows[0].options == {"threads": 2, "channels_last": False}
    assert m.rows[2].options == {"threads": 2}
    assert m.data == "synthetic:4"
    m2 = with_overrides(m, runs=9, batch=[2], size=None)
    assert all(r.runs == 9 and r.batch == (2,) and r.size == (64, 96) for r in m2.rows)


def test_vars_fill_placeholders_but_leave_artifact(tmp_path):
    d = {
        "vars": {"camvid": "/data/camvid"},
        "data": "camvid:{camvid}",
        "rows": [
            {
                "id": "q",
                "artifact": "b/q.onnx",
                "make": [["build", "m.onnx", "--calib", "{camvid}/train", "-o", "{artifact}"]],
            }
        ],
    }
    m = matrix_from_dict(d)
    assert m.data == "camvid:/data/camvid"
    assert m.rows[0].make[0] == ("build", "m.onnx", "--calib", "/data/camvid/train", "-o", "{artifact}")
    m2 = matrix_from_dict(d, variables={"camvid": "/mnt/cv"})
    assert m2.data == "camvid:/mnt/cv"
    with pytest.raises(EdgesegError, match="not among the matrix's vars"):
        matrix_from_dict(d, variables={"camvd": "/x"})


def test_a_relative_dataset_path_is_taken_from_the_matrix_folder(tmp_path, monkeypatch):
    """benchmarks/*.yaml hard-coded /work/shared/datasets/camvid; a relative one must not depend on the
    cwd."""
    from edgeseg.bench.matrix import load_matrix

    (tmp_path / "m").mkdir()
    y = tmp_path / "m" / "x.yaml"
    y.write_text(
        "vars: {camvid: ../data/camvid}\ndata: camvid:{camvid}\nrows:\n  - {id: a, artifact: a.onnx}\n"
    )
    monkeypatch.chdir(tmp_path / "m")
    assert load_matrix("x.yaml").data == f"camvid:{tmp_path / 'data' / 'camvid'}"
    monkeypatch.chdir(tmp_path)
    assert load_matrix(y).data == f"camvid:{tmp_path / 'data' / 'camvid'}"
    assert load_matrix(y, variables={"camvid": "/abs/camvid"}).data == "camvid:/abs/camvid"


def test_committed_matrices_hard_code_no_absolute_dataset_path():
    from pathlib import Path

    import yaml

    for y in sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.yaml")):
        for k, v in (yaml.safe_load(y.read_text()).get("vars") or {}).items():
            assert not str(v).startswith("/"), f"{y.name}: vars.{k} = {v} is an absolute path"
