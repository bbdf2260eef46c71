"""OpenVINO builds (``edgeseg build --backend openvino``) and OpenVinoRunner on the real OpenVINO:
the IR pair and its card, weights kept float32, f32 math pinned, agreement with ONNX Runtime,
INT8 from a Q/DQ ONNX, the refusals of the build and of the runner, and nothing written when the
parity check fails.

The float model is the runtime tests' tiny CGNet (randomised BatchNorm statistics, logits up to
~25, so agreement checks mean something); the Q/DQ ONNX comes from ``edgeseg quantize --method ptq``
on its checkpoint with 4 synthetic calibration frames.
"""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from _openvino_helpers import A, batch_of, cli, copy_pair, sha256  # noqa: E402
from edgeseg.backends.onnxruntime.runner import OrtRunner  # noqa: E402
from edgeseg.backends.openvino.build import build_openvino, compile_config  # noqa: E402
from edgeseg.backends.openvino.runner import OpenVinoRunner  # noqa: E402
from edgeseg.errors import BuildError, UnsupportedOptionError  # noqa: E402


# ---- the build through the CLI ---------------------------------------------------------------------


def test_cli_build_writes_the_pair_beside_the_input_and_one_summary_line(ir):
    assert ir.xml.is_file() and ir.bin.is_file()
    assert sorted(p.name for p in ir.folder.iterdir()) == [
        "cgnet.fp32.bin",
        "cgnet.fp32.xml",
        "cgnet.onnx",
    ]  # no temp left
    lines = ir.out.strip().splitlines()
    assert lines[0].startswith(
        "parity against ONNX Runtime on 2 built-in probe scenes (the build reads no dataset):"
    )
    summary = lines[-1]
    assert (
        summary.startswith("built openvino fp32 (OpenVINO ") and "CPU: FP32 (f32 weights and math)" in summary
    )
    assert (
        f"{ir.xml} ({_human(ir.xml.stat().st_size + ir.bin.stat().st_size)}); vs source on 2 synthetic "
        "scenes: max|diff|=" in summary
    )


def _human(n):
    from edgeseg.backends._build import human_size

    return human_size(n)


def test_card_in_rt_info_records_backend_precision_parity_and_the_weights(ir):
    from edgeseg.card import card_from_onnx

    with OpenVinoRunner(ir.xml) as r:
        card, precision, backend = r.card, r.precision, r.backend
    src = card_from_onnx(ir.onnx)
    assert backend == "openvino" and precision == "fp32" and card.precision == "fp32"
    assert (card.arch, card.class_names, card.input_size, card.mean, card.std) == (
        src.arch,
        src.class_names,
        src.input_size,
        src.mean,
        src.std,
    )
    x = card.extra
    assert x["backend"] == "openvino" and x["device"] == "CPU" and x["inference_precision"] == "f32"
    assert x["threads"] == 1 and x["onnx_source"] == src.source
    assert card.source == f"cgnet.onnx@sha256:{sha256(ir.onnx)[:16]}"
    assert x["openvino_version"] == ov.get_version()
    p = x["parity"]
    assert p["passed"] is True and p["frames"] == 2 and p["argmax_agreement"] >= 0.999
    assert (p["atol"], p["rtol"], p["agree_min"]) == (1e-3, 1e-3, 0.999)  # compare_logits defaults
    assert x["weights_size"] == ir.bin.stat().st_size
    assert x["weights_sha256"] == sha256(ir.bin)


def test_weights_are_saved_as_float32_not_compressed_to_fp16(ir, tmp_path):
    import onnx
    from onnx import numpy_helper

    floats = [
        numpy_helper.to_array(t)
        for t in onnx.load(str(ir.onnx)).graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT
    ]
    total = sum(a.size for a in floats) * 4
    # --no-rewrite: the rewrites split some weights (a Conv over a Concat), so compare the graph as exported
    res = build_openvino(ir.onnx, output=tmp_path / "plain.xml", rewrite=False, log=lambda s: None)
    data = res.path.with_suffix(".bin").read_bytes()
    # OpenVINO shares a few small constants, so not every initializer is there byte for byte; an
    # fp16-compressed .bin would be about half the float32 bytes
    assert len(data) >= 0.9 * total, (len(data), total)
    biggest = max(floats, key=lambda a: a.size)
    assert biggest.size > 10_000
    assert biggest.astype("<f4").tobytes() in data
    assert biggest.astype("<f2").tobytes() not in data


def test_runner_agrees_with_ort_and_pins_f32_math_and_the_card_threads(ir):
    x = batch_of(2)
    with OrtRunner(ir.onnx) as ref_runner:
        ref = ref_runner.infer(x)
    with OpenVinoRunner(ir.xml) as r:
        got = r.infer(x)
        assert r.threads == 1 and r.options["threads"] == 1  # from the card (--threads 1 at build time)
        # what OpenVINO compiled with (no public accessor on the runner)
        assert r._compiled.get_property("INFERENCE_NUM_THREADS") == 1
        assert (
            r._compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
        )  # not bf16 on AMX/AVX512-BF16
        assert r.input_size == A.SIZE
    assert got.dtype == np.float32 and got.shape == ref.shape == (2, A.NUM_CLASSES, *A.SIZE)
    assert float(np.abs(ref).max()) > 1.0  # the tiny model's logits are not ~0 (a real comparison)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-5)
    with OpenVinoRunner(ir.xml, threads=2) as r:  # an explicit value wins over the card
        assert r.threads == 2 and r._compiled.get_property("INFERENCE_NUM_THREADS") == 2


def test_compile_config_pins_f32_and_latency():
    cfg = compile_config(threads=None)
    assert cfg == {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"}
    assert compile_config(threads=3)["INFERENCE_NUM_THREADS"] == 3


def test_build_without_threads_records_none_and_the_runner_takes_openvinos_default(ir, tmp_path):
    res = build_openvino(ir.onnx, output=tmp_path / "d.xml", log=lambda s: None)
    assert res.card.extra["threads"] is None
    assert res.size_bytes == (tmp_path / "d.xml").stat().st_size + (tmp_path / "d.bin").stat().st_size
    with OpenVinoRunner(res.path) as r:
        assert r.threads is None
    # same ONNX, same weights: the .bin is the same bytes as the CLI build's
    assert (tmp_path / "d.bin").read_bytes() == ir.bin.read_bytes()


def test_static_batch_ir_runs_a_batch_of_3_in_chunks(ir):
    x = batch_of(3, seed=1)
    with OpenVinoRunner(ir.xml) as r:
        assert r.static_batch == 1
        got = r.infer(x)
        singles = np.concatenate([r.infer(x[i : i + 1]) for i in range(3)])
    assert got.shape == (3, A.NUM_CLASSES, *A.SIZE)
    np.testing.assert_array_equal(got, singles)
    assert not np.array_equal(got[0], got[1])  # each frame got its own output, not a repeated first chunk


def test_dynamic_onnx_builds_an_ir_that_takes_any_batch_and_size(ir, tmp_path):
    onnx = A.tiny_onnx(ir.src_dir, dynamic=True)
    res = build_openvino(onnx, output=tmp_path / "dyn.xml", log=lambda s: None)
    x = batch_of(3, seed=2)
    with OrtRunner(onnx) as o:
        ref = o.infer(x)
    with OpenVinoRunner(res.path) as r:
        assert r.static_batch is None and r.input_size is None
        got = r.infer(x)
        small = r.infer(np.ascontiguousarray(x[:, :, :32, :48]))
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-5)
    assert small.shape == (3, A.NUM_CLASSES, 32, 48)


# ---- INT8 -----------------------------------------------------------------------------------------


def test_int8_on_a_float_onnx_is_refused_and_writes_nothing(ir, tmp_path):
    code, out, err = cli(["build", ir.onnx, "--backend", "openvino", "--int8", "-o", tmp_path / "q.xml"])
    assert code == 2 and "Traceback" not in err
    assert re.search(
        r"cgnet\.onnx is a float ONNX: OpenVINO INT8 runs a Q/DQ ONNX\. Make one with `edgeseg quantize", err
    )
    assert list(tmp_path.iterdir()) == []


def test_qdq_onnx_builds_int8_with_int8_kernels(qdq):
    summary = qdq.out.strip().splitlines()[-1]
    assert summary.startswith("built openvino int8 (") and "INT8 (Q/DQ ONNX: int8 kernels)" in summary
    with OpenVinoRunner(qdq.xml) as r:
        assert r.precision == "int8" and r.card.precision == "int8"
        p = r.card.extra["parity"]
        assert p["passed"] is True and p["agree_min"] == 0.97 and p["argmax_agreement"] >= 0.97
        assert r.card.extra["weights_size"] == qdq.bin.stat().st_size
        x = batch_of(2, seed=3)
        got = r.infer(x)
        ran = {
            (op.get_rt_info()["layerType"].astype(str), op.get_rt_info()["runtimePrecision"].astype(str))
            for op in r._compiled.get_runtime_model().get_ordered_ops()
        }
    with OrtRunner(qdq.onnx) as o:
        ref = o.infer(x)
    assert got.shape == ref.shape and np.isfinite(got).all()
    assert float((got.argmax(1) == ref.argmax(1)).mean()) >= 0.9
    convs = {prec for kind, prec in ran if "Convolution" in kind}
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert convs & {"u8", "i8"}, f"no convolution ran in int8: {sorted(ran)}"


def test_qdq_onnx_without_int8_flag_still_builds_int8(qdq, tmp_path):
    res = build_openvino(qdq.onnx, output=tmp_path / "q2.xml", log=lambda s: None)
    assert res.precision == "int8" and res.card.precision == "int8"


def test_rewrites_float_graphs_fully_and_qdq_graphs_prelu_only_and_no_rewrite_keeps_the_graph(
    ir, qdq, tmp_path
):
    """The tiny CGNet has per-channel PRelus after Concats: the float build applies the three CPU
    rewrites (checked equal to the export in ORT), the Q/DQ build only the PRelu one (moving BN/PRelu
    across a Concat would move them across quantization points); --no-rewrite converts the ONNX as is."""
    with OpenVinoRunner(ir.xml) as r:
        float_rw = r.card.extra["rewrites"]
    assert any(x.startswith("PRelu -> slope*x") for x in float_rw)
    assert any("before Concat" in x for x in float_rw)
    with OpenVinoRunner(qdq.xml) as r:
        qdq_rw = r.card.extra["rewrites"]
    assert qdq_rw and all(x.startswith("PRelu") for x in qdq_rw)
    code, out, err = cli(
        ["build", ir.onnx, "--backend", "openvino", "--no-rewrite", "-o", tmp_path / "plain.xml"]
    )
    assert code == 0, err
    assert "graph rewrite" not in out
    with OpenVinoRunner(tmp_path / "plain.xml") as plain, OpenVinoRunner(ir.xml) as rewritten:
        assert plain.card.extra["rewrites"] == []
        x = batch_of(2, seed=5)
        assert np.allclose(plain.infer(x), rewritten.infer(x), atol=1e-4, rtol=1e-4)
    ops = {n.op_type for n in __import__("onnx").load(str(ir.onnx)).graph.node}
    assert "PRelu" in ops  # the source ONNX on disk is never modified


# ---- options and paths the build refuses -----------------------------------------------------------


def test_fp16_and_tensorrt_options_are_rejected_for_openvino(ir, tmp_path):
    from edgeseg.backends import BACKENDS
    from edgeseg.backends._options import check_options

    with pytest.raises(
        UnsupportedOptionError,
        match=r"--backend openvino does not take --fp16 \(accepted by onnxruntime, tensorrt, coreml\)",
    ):
        check_options("openvino", {"fp16": True}, BACKENDS)
    code, _, err = cli(["build", ir.onnx, "--backend", "openvino", "--fp16", "-o", tmp_path / "h.xml"])
    assert code == 2 and "Traceback" not in err
    assert (
        "--backend openvino does not take --fp16 (accepted by onnxruntime, tensorrt, coreml)"
        in err.strip().splitlines()[-1]
    )
    code, _, err = cli(
        ["build", ir.onnx, "--backend", "openvino", "--calib", "synthetic:2", "-o", tmp_path / "h.xml"]
    )
    assert code == 2 and "--calib/--calib-num for openvino are for --int8 --max-drop" in err  # issue 32
    code, _, err = cli(
        ["build", ir.onnx, "--backend", "openvino", "--calib-cache", "c.cache", "-o", tmp_path / "h.xml"]
    )
    assert code == 2 and "does not take --calib-cache (accepted by tensorrt)" in err
    check_options("openvino", {"int8": True, "threads": 2}, BACKENDS)  # the two it takes
    assert list(tmp_path.iterdir()) == []


def test_wrong_output_suffix_and_non_onnx_input_are_refused(ir, tmp_path):
    code, _, err = cli(["build", ir.onnx, "--backend", "openvino", "-o", tmp_path / "x.onnx"])
    assert code == 2 and "Traceback" not in err
    assert re.search(
        r"output \S*x\.onnx: an OpenVINO IR is written as NAME\.xml \(\+ NAME\.bin\), found '\.onnx'", err
    )
    code, _, err = cli(["build", ir.ckpt, "--backend", "openvino", "-o", tmp_path / "x.xml"])
    assert code == 2 and re.search(
        r"tiny\.pt: the openvino backend builds from an exported \.onnx, found '\.pt'", err
    )
    with pytest.raises(BuildError, match="--threads: threads must be a positive integer"):
        build_openvino(ir.onnx, output=tmp_path / "x.xml", threads=0, log=lambda s: None)
    assert list(tmp_path.iterdir()) == []


def _shift_ort_reference(monkeypatch):
    """ONNX Runtime's output (the builds' reference) +10 on class 0, so no build can match it."""
    real_infer = OrtRunner.infer

    def shifted(self, batch):
        logits = real_infer(self, batch).copy()
        logits[:, 0] += 10.0
        return logits

    monkeypatch.setattr(OrtRunner, "infer", shifted)


def test_parity_failure_writes_nothing(ir, tmp_path, monkeypatch):
    """The ONNX Runtime reference is shifted by +10 on class 0: the IR no longer matches it."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _shift_ort_reference(monkeypatch)
    with pytest.raises(
        BuildError, match=r"the OpenVINO IR does not match ONNX Runtime on cgnet\.onnx: .*nothing written"
    ):
        build_openvino(ir.onnx, output=out_dir / "m.xml", log=lambda s: None)
    assert list(out_dir.iterdir()) == []  # no m.xml, no m.bin, no .edgeseg-ov-* temp folder, no staged file
    # and over an existing good pair: left as it was
    good = copy_pair(ir.xml, out_dir)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    code, _, err = cli(["build", ir.onnx, "--backend", "openvino", "-o", good])
    assert code == 2 and "does not match ONNX Runtime" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before


@pytest.mark.parametrize("vnni", [False, True, None])
def test_int8_parity_failure_names_a_cpu_without_vnni_as_a_possible_cause(qdq, tmp_path, monkeypatch, vnni):
    """On x86 without VNNI, ORT and OpenVINO INT8 disagreed on shipped QAT files that matched on a VNNI
    CPU (zoo run 20261206T121927Z): the error says so there, and only there."""
    import edgeseg.quant.ort_cpu as ort_cpu

    _shift_ort_reference(monkeypatch)
    monkeypatch.setattr(ort_cpu, "cpu_has_vnni", lambda: vnni)
    with pytest.raises(BuildError, match="does not match ONNX Runtime") as e:
        build_openvino(qdq.onnx, output=tmp_path / "q.xml", log=lambda s: None)
    assert ("this x86 CPU has no VNNI" in str(e.value)) is (vnni is False)
    assert list(tmp_path.iterdir()) == []


# ---- doctor ----------------------------------------------------------------------------------------


def test_doctor_lists_openvino_as_buildable_and_runnable_here():
    from edgeseg.backends import backend_matrix

    row = next(r for r in backend_matrix() if r["backend"] == "openvino")
    assert row["can_build"] is True and row["can_run"] is True and row["version"] == ov.get_version()
    code, out, _ = cli(["doctor"])
    assert code == 0 and re.search(r"^\s*openvino\s+yes\s+yes\s", out, re.MULTILINE), out


def test_a_failed_ir_write_names_the_output_and_leaves_nothing(ir, tmp_path, monkeypatch):
    """OpenVINO raises a RuntimeError about its own temp file when the disk is full: the build says
    which output could not be written, and no pair or temp folder is left behind."""
    import openvino as ov

    def full_disk(*a, **k):
        raise RuntimeError(
            "Exception from src/core/src/pass/serialize.cpp:1:\nCan't open bin file: No space left on device"
        )

    monkeypatch.setattr(ov, "save_model", full_disk)
    with pytest.raises(
        BuildError, match=r"could not write the OpenVINO IR .*full\.xml \(\+ full\.bin\): .*No space left"
    ):
        build_openvino(ir.onnx, output=tmp_path / "full.xml", log=lambda s: None)
    assert list(tmp_path.iterdir()) == []


def test_a_static_batch_4_onnx_builds_and_its_parity_probe_is_padded(ir, tmp_path):
    """The parity probe has 2 frames; an IR with a fixed batch of 4 gets them as one padded chunk (the
    runner's chunking), and the runner then serves 1..5 frames."""
    from edgeseg.export.onnx import export_onnx
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(ir.ckpt)
    onnx4 = export_onnx(model, card, tmp_path / "b4.onnx", batch=4)
    res = build_openvino(onnx4, output=tmp_path / "b4.xml", log=lambda s: None)
    assert res.card.extra["parity"]["passed"] and res.card.extra["parity"]["frames"] == 2
    with OpenVinoRunner(res.path) as r, OpenVinoRunner(ir.xml) as one:
        assert r.static_batch == 4
        x = batch_of(5, seed=2)
        assert np.allclose(r.infer(x), one.infer(x), atol=1e-4, rtol=1e-4)
