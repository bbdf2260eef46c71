"""ExecuTorch builds: ``.pte`` programs from the checkpoint (or an ONNX with it beside), lowered to
XNNPACK, FP32 and INT8 (PT2E), the card inside the program, run by ExecuTorch's Python runtime."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("executorch")

from edgeseg.backends import open_runner, read_card, spec_for  # noqa: E402
from edgeseg.backends.executorch import CARD_METHOD  # noqa: E402
from edgeseg.backends.executorch._lower import Lowered  # noqa: E402
from edgeseg.backends.executorch.build import build_executorch  # noqa: E402
from edgeseg.backends.executorch._native import read_program_card  # noqa: E402
from edgeseg.backends.executorch.runner import ExecuTorchRunner  # noqa: E402
from edgeseg.errors import BuildError, EdgesegError, ExportError  # noqa: E402

QUIET = {"log": lambda s: None}


@pytest.fixture(scope="module")
def qat_checkpoint(tiny_models, tmp_path_factory):
    """A quantized (fake-quant, calibrated) checkpoint of the tiny model, as `quantize --save-checkpoint`
    writes."""
    import torch

    from edgeseg.quant.calibrate import calibrate
    from edgeseg.quant.placement import prepare
    from edgeseg.quant.qcheckpoint import save_quantized_checkpoint

    qmodel, placement = prepare(tiny_models.model)
    gen = torch.Generator().manual_seed(0)
    calibrate(qmodel, [torch.randn(2, 3, 64, 96, generator=gen) for _ in range(2)], progress=False)
    card = tiny_models.card.replace(precision="int8")
    return save_quantized_checkpoint(
        tmp_path_factory.mktemp("qat") / "tiny_qat.pt", qmodel=qmodel, placement=placement, card=card
    )


@pytest.fixture(scope="module")
def programs(tiny_models, qat_checkpoint, tmp_path_factory):
    """An FP32 program from the ONNX (its checkpoint beside it) and an INT8 one from the QAT checkpoint
    (built once: lowering takes seconds)."""
    out = tmp_path_factory.mktemp("executorch")
    logs: list[str] = []
    fp32 = build_executorch(
        tiny_models.onnx,
        output=out / "tiny.pte",
        threads=1,
        command="edgeseg build tiny.onnx",
        log=logs.append,
    )
    int8 = build_executorch(
        qat_checkpoint,
        output=out / "tiny_int8.pte",
        int8=True,
        calib="synthetic:4",
        calib_num=4,
        threads=1,
        **QUIET,
    )
    return fp32, int8, logs


def test_fp32_program_card_delegation_and_parity(programs, tiny_models):
    res, _, logs = programs
    assert res.path.is_file() and res.path.suffix == ".pte" and res.precision == "fp32"
    card = read_card(res.path)
    assert card == res.card and spec_for(res.path).name == "executorch"
    assert card.class_names == tiny_models.card.class_names and card.input_size == (64, 96)
    assert card.extra["backend"] == "executorch" and card.extra["threads"] == 1
    assert card.extra["build_command"] == "edgeseg build tiny.onnx" and card.source.startswith(
        "tiny.pt@sha256:"
    )
    d = card.extra["delegation"]
    assert d["delegate"] == "XnnpackBackend" and d["delegated_nodes"] > 50 and d["subgraphs"] >= 1
    # CGNet's padded input-injection pools, rewritten so that XNNPACK takes them: every operator delegated
    assert len(d["rewrites"]) == 4 and all("ZeroPad2d" in r for r in d["rewrites"][1:])
    assert "joint BatchNorm folded into F_loc/F_sur" in d["rewrites"][0]  # CGNet's deploy form
    assert (
        d["not_delegated"] == {} and not any(line.startswith("warning:") for line in logs) and not res.notes
    )
    c = res.comparison
    assert c["enforced"] and c["passed"] and c["max_abs_diff"] < 1e-3
    assert "checkpoint" in logs[0] and "named by tiny.onnx" in logs[0]


def test_runner_agrees_with_torch_and_honours_threads(programs, tiny_models, arts):
    import torch

    res, _, _ = programs
    frames = arts.frames(3)
    from edgeseg.data.preprocess import preprocess

    batch = preprocess(frames, tiny_models.card)
    with torch.no_grad():
        ref = tiny_models.model(torch.from_numpy(batch)).numpy()
    with ExecuTorchRunner(res.path) as r:
        assert r.threads == 1 and r.options == {"threads": 1}  # the count the build recorded
        assert r.static_batch == 1 and r.input_size == (64, 96)
        out = r.infer(batch)  # 3 frames through a batch-1 program: run one by one
    assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-3
    with ExecuTorchRunner(res.path, threads=2) as r:
        assert r.threads == 2


def test_int8_program_from_a_qat_checkpoint(programs, tiny_models):
    fp32, res, _ = programs
    card = res.card
    assert res.precision == "int8" and card.precision == "int8" and read_program_card(res.path) == card
    q = card.extra["quantization"]
    assert (
        q["flavour"] == "xnnpack-pt2e"
        and "QAT checkpoint" in q["weights_from"]
        and "per output channel" in q["weights"]
    )
    assert card.calibration["frames"] == 4 and card.calibration["spec"] == "synthetic:4"
    assert res.path.stat().st_size < 0.6 * fp32.path.stat().st_size  # int8 weights
    assert res.comparison["enforced"] is False and "QAT weights" in res.path_name
    # INT8 is compared with its source on real (calibration) frames, FP32 on the synthetic probe scenes
    assert (
        res.comparison["probe"] == "2 calibration frames" and fp32.comparison["probe"] == "2 synthetic scenes"
    )
    assert "vs source on 2 calibration frames: " in res.summary()
    with open_runner(res.path) as r:
        assert r.precision == "int8"


def test_bad_requests_fail_before_any_work(tiny_models, qat_checkpoint, tmp_path):
    pt = tiny_models.pt
    with pytest.raises(BuildError, match="--calib is for INT8 builds"):
        build_executorch(pt, output=tmp_path / "a.pte", calib="synthetic:2", **QUIET)
    with pytest.raises(BuildError, match="--int8 for executorch .* needs frames"):
        build_executorch(pt, output=tmp_path / "a.pte", int8=True, **QUIET)
    with pytest.raises(BuildError, match="quantized \\(QAT\\) checkpoint: build it with --int8"):
        build_executorch(qat_checkpoint, output=tmp_path / "a.pte", **QUIET)
    with pytest.raises(BuildError, match="must end in .pte"):
        build_executorch(pt, output=tmp_path / "a.tflite", **QUIET)
    with pytest.raises(BuildError, match="threads must be a positive integer"):
        build_executorch(pt, output=tmp_path / "a.pte", threads=0, **QUIET)
    lone = tmp_path / "lone.onnx"
    shutil.copy(tiny_models.onnx, lone)
    with pytest.raises(BuildError, match="not beside it.*--backend executorch"):
        build_executorch(lone, **QUIET)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lone.onnx"]  # nothing written


def test_unreadable_or_foreign_programs_are_clear_errors(programs, tmp_path):
    res, _, _ = programs
    cut = tmp_path / "cut.pte"
    cut.write_bytes(res.path.read_bytes()[:1000])
    with pytest.raises(ExportError, match="cut.pte: not a loadable ExecuTorch program"):
        ExecuTorchRunner(cut)
    with pytest.raises(EdgesegError, match="file not found|not found"):
        open_runner(tmp_path / "missing.pte")


def test_a_program_without_the_card_method_is_named_foreign(tmp_path):
    """A .pte not built by edgeseg (no card method) is refused with the reason, not run blind."""
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from edgeseg.backends.executorch._native import quiet

    net = torch.nn.Conv2d(3, 11, 1).eval()
    with quiet():
        prog = to_edge_transform_and_lower(
            torch.export.export(net, (torch.zeros(1, 3, 8, 8),))
        ).to_executorch()
    foreign = tmp_path / "foreign.pte"
    foreign.write_bytes(prog.buffer)
    with pytest.raises(ExportError, match=f"not built by edgeseg; the program has no '{CARD_METHOD}' method"):
        ExecuTorchRunner(foreign)


def test_delegation_warning_names_the_operators():
    lw = Lowered(b"", 10, 3, 1, {"aten_avg_pool2d_default": 2, "aten_foo_default": 1})
    assert lw.warning() == (
        "warning: 3 of 13 operators run outside XNNPACK on ExecuTorch's portable (slower) "
        "kernels: aten_avg_pool2d_default x2, aten_foo_default x1"
    )
    assert Lowered(b"", 10, 1, 1, {}).warning() is None
    assert json.loads(json.dumps(lw.delegation))["not_delegated"]["aten_foo_default"] == 1


def test_padded_average_pools_are_rewritten_exactly(tiny_models):
    """count_include_pad=True pooling == explicit zero padding + unpadded pooling (the rewrite XNNPACK
    needs)."""
    import torch

    from edgeseg.backends.executorch._lower import pad_avg_pools

    x = torch.randn(2, 3, 37, 50)
    for pool in (torch.nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d((3, 5), 2, (1, 2))):
        new, done = pad_avg_pools(torch.nn.Sequential(pool))
        assert len(done) == 1 and torch.allclose(new(x), pool(x), atol=1e-6)
    kept = torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)  # XNNPACK takes it as it is
    assert pad_avg_pools(torch.nn.Sequential(kept))[1] == []
    new, done = pad_avg_pools(tiny_models.model)
    assert len(done) == 3 and new is not tiny_models.model
    with torch.no_grad():
        assert torch.allclose(
            new(torch.ones(1, 3, 64, 96)), tiny_models.model(torch.ones(1, 3, 64, 96)), atol=1e-5
        )


def test_time_split_reads_xnnpack_operators_from_an_etdump(programs):
    """bench.time_split on a .pte: XNNPACK's own operator events (ETDump), by kind of work."""
    from edgeseg.bench.time_split import KINDS, time_split

    _, int8, _ = programs
    split = time_split(int8.path, runs=2, warmup=1)
    assert split["tool"].startswith("ExecuTorch ETDump") and split["threads"] == 1  # the card's threads
    kernels = split["kernels_ms"]
    assert {"dense convolution", "channel-wise convolution"} <= set(kernels) <= set(KINDS)
    assert 0 < sum(kernels.values()) <= split["run_ms"] + 1e-6
    assert split["kernel_calls"] == pytest.approx(sum(split["calls"].values()))


def test_an_existing_program_is_replaced_only_by_one_of_its_precision(programs, tiny_models, capsys):
    """The output policy reads a .pte's card (its card method): building FP32 over an INT8 program is
    refused before any work; `--rebuild` of a bench row (same precision) is not (it was: the policy read
    no card from a .pte and refused every existing program)."""
    from edgeseg.cli import main
    from edgeseg.commands._outputs import artifact_precision

    fp32, int8, _ = programs
    assert artifact_precision(fp32.path) == "fp32" and artifact_precision(int8.path) == "int8"
    before = int8.path.read_bytes()
    assert main(["build", str(tiny_models.pt), "--backend", "executorch", "-o", str(int8.path)]) == 2
    err = capsys.readouterr().err
    assert "is a INT8 model; this command writes FP32" in err and int8.path.read_bytes() == before
