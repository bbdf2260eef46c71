"""``edgeseg trt-check``'s glue (edgeseg.backends.tensorrt.check.report): pytest is really run on a stand-in
test file that records figures, skips and fails like the real-TensorRT tests; machine facts come from a FAKE
tensorrt/pycuda (tests/fakes) and a stand-in /etc/nv_tegra_release. No TensorRT figure here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from edgeseg.errors import EdgesegError
from edgeseg.backends.tensorrt.check import ENV_DATA, report

ROOT = Path(__file__).resolve().parents[3]

STAND_IN = """
import json, os
import pytest


@pytest.mark.tensorrt
def test_fp32_like(record_property):
    expected = {"precision": "fp32", "tf32": False, "max_abs_diff": 3.5e-6, "mismatches": 0, "atol": 1e-5}
    for k, v in expected.items():
        record_property(k, json.dumps(v))


@pytest.mark.tensorrt
def test_miou_like(record_property):
    record_property("drop_points", json.dumps(2.5))
    assert os.environ.get("EDGESEG_TRT_DATA") == "camvid:HERE", "mIoU dropped 2.5 points | too much"


@pytest.mark.tensorrt
def test_skipped_like():
    pytest.skip("the mIoU checks need labelled data: set EDGESEG_TRT_DATA")


def test_not_marked_is_not_run():
    raise AssertionError("deselected by -m tensorrt")
"""


def _stand_in(tmp_path: Path, body: str = STAND_IN) -> Path:
    d = tmp_path / "standin"
    d.mkdir()
    f = d / "test_standin_real.py"
    f.write_text(body)
    return f


def _fake_trt(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "t16e_build_helpers", ROOT / "tests" / "backends" / "_shared" / "_build_helpers.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    fake = mod.FakeTRT(monkeypatch)
    fake.install("10.3.0.26", compute_capability=(8, 7))
    return fake


def test_run_check_writes_both_reports_with_outcomes_figures_and_bounds(tmp_path):
    out = tmp_path / "out"
    rep = report.run_check(out_dir=out, test_paths=[_stand_in(tmp_path)], root=ROOT, timeout=240)
    by = {t["name"]: t for t in rep["tests"]}
    assert set(by) == {
        "test_fp32_like",
        "test_miou_like",
        "test_skipped_like",
    }  # -m tensorrt deselects the rest
    assert by["test_fp32_like"]["outcome"] == "passed"
    assert by["test_fp32_like"]["figures"] == {
        "precision": "fp32",
        "tf32": False,
        "max_abs_diff": 3.5e-6,
        "mismatches": 0,
        "atol": 1e-5,
    }
    assert (
        by["test_miou_like"]["outcome"] == "failed"
        and "mIoU dropped 2.5 points" in by["test_miou_like"]["message"]
    )
    assert by["test_miou_like"]["figures"] == {"drop_points": 2.5}
    assert (
        by["test_skipped_like"]["outcome"] == "skipped"
        and "EDGESEG_TRT_DATA" in by["test_skipped_like"]["message"]
    )
    assert rep["pytest"]["exit_code"] == 1 and rep["pytest"]["counts"] == {
        "passed": 1,
        "failed": 1,
        "error": 0,
        "skipped": 1,
    }
    assert "1 failed, 1 passed, 1 skipped" in rep["pytest"]["summary"] and rep["verdict"] == "fail"
    assert rep["bounds"]["fp32"]["atol"] == 1e-5 and rep["bounds"]["miou_drop_max_points"]["value"] == 1.0
    on_disk = json.loads((out / report.REPORT_JSON).read_text())
    assert on_disk["format"] == report.FORMAT and on_disk["tests"] == rep["tests"]
    md = (out / report.REPORT_MD).read_text()
    assert "| test_fp32_like | passed | fp32 | False | 3.5e-06 |" in md
    assert "mIoU dropped 2.5 points \\| too much" in md  # a | in a message does not break the table
    assert "Polygraphy" in md and "MMDeploy" in md
    assert "1 deselected" in (out / report.PYTEST_LOG).read_text()
    assert sorted(Path(p).name for p in rep["files"]) == sorted(
        [report.REPORT_JSON, report.REPORT_MD, report.PYTEST_LOG]
    )


@pytest.fixture
def camvid(tmp_path):
    spec = importlib.util.spec_from_file_location("t16e_root_conftest", ROOT / "tests" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    root = tmp_path / "CamVid"
    mod.write_pairs(root, n=2, split="val")
    return root


def test_all_passing_is_a_pass_and_env_is_passed(tmp_path, camvid, monkeypatch):
    body = (
        "import os, pytest\n@pytest.mark.tensorrt\ndef test_env():\n"
        f"    assert os.environ['{ENV_DATA}'] == 'camvid:{camvid}'\n"
        "    assert os.environ['EDGESEG_TRT_MAX_FRAMES'] == '3'\n"
    )
    rep = report.run_check(
        out_dir=tmp_path / "o",
        data=f"camvid:{camvid}",
        max_frames=3,
        test_paths=[_stand_in(tmp_path, body)],
        root=ROOT,
        timeout=240,
    )
    assert rep["verdict"] == "pass" and rep["inputs"] == {
        ENV_DATA: f"camvid:{camvid}",
        "EDGESEG_TRT_MAX_FRAMES": "3",
    }


def test_only_skips_is_no_tests_ran(tmp_path):
    body = (
        "import pytest\n@pytest.mark.tensorrt\ndef test_s():\n    pytest.skip('TensorRT is not installed')\n"
    )
    rep = report.run_check(
        out_dir=tmp_path / "o", test_paths=[_stand_in(tmp_path, body)], root=ROOT, timeout=240
    )
    assert rep["pytest"]["exit_code"] == 0 and rep["verdict"] == "no tests ran"


def test_bad_inputs_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(EdgesegError, match=r"--onnx .*missing.onnx: file not found"):
        report.run_check(out_dir=out, onnx=str(tmp_path / "missing.onnx"), root=ROOT)
    with pytest.raises(EdgesegError, match="not found"):
        report.run_check(out_dir=out, data=f"camvid:{tmp_path / 'nope'}", root=ROOT)
    with pytest.raises(EdgesegError, match="source checkout"):
        report.run_check(out_dir=out, root=tmp_path)
    assert not out.exists()


def test_machine_facts_read_tensorrt_gpu_and_the_l4t_release(tmp_path, monkeypatch):
    _fake_trt(monkeypatch)
    rel = tmp_path / "nv_tegra_release"
    rel.write_text(
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8\n"
        "# KERNEL_VARIANT: oot\n"
    )
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super\x00")
    m = report.machine_facts(release_path=rel, model_path=model)
    assert m["tensorrt"]["installed"] and m["tensorrt"]["version"] == "10.3.0.26"  # the FAKE's version
    assert m["gpu"]["compute_capability"] == "8.7" and m["gpu"]["name"].startswith("Fake")
    assert m["jetson"]["l4t"] == "36.4.3" and m["jetson"]["model"].startswith("NVIDIA Jetson Orin Nano")
    assert m["jetson"]["nv_tegra_release"].startswith("# R36 (release), REVISION: 4.3")
    md = report.render_markdown(
        report.build_report(machine=m, tests=[], exit_code=5, summary="", command="c", inputs={})
    )
    assert "| TensorRT | 10.3.0.26 |" in md and "36.4.3" in md and "(compute capability 8.7)" in md


def test_machine_facts_off_a_jetson_say_so(tmp_path):
    m = report.machine_facts(release_path=tmp_path / "absent", model_path=tmp_path / "absent2")
    assert m["jetson"] is None


def test_cli_bad_input_is_one_line_and_exit_code(tmp_path, capsys):
    from edgeseg.cli import main

    rc = main(["trt-check", "--onnx", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "o")])
    assert rc != 0 and not (tmp_path / "o").exists()
    assert "missing.onnx: file not found" in capsys.readouterr().err
