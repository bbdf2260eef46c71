"""``edgeseg build`` end to end through edgeseg.cli.main (TensorRT through the FAKE module only)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from edgeseg.cli import main


def test_no_tensorrt_no_backend_names_the_available_ones(tiny_models, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main(["build", str(tiny_models.onnx)]) == 2
    err = capsys.readouterr().err
    ov = ", openvino" if importlib.util.find_spec("openvino") else ""
    et = ", executorch" if importlib.util.find_spec("executorch") else ""
    assert (
        "TensorRT is not installed here" in err
        and f"available backends: onnxruntime{ov}, coreml{et} (pass" in err
    )


def test_explicit_tensorrt_without_it_says_how_to_install(tiny_models, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main(["build", str(tiny_models.onnx), "--backend", "tensorrt", "--fp16"]) == 2
    assert "pip install tensorrt --extra-index-url https://pypi.nvidia.com" in capsys.readouterr().err


def test_tensorrt_is_the_default_when_it_imports(fake_trt, tmp_path, tiny_models, capsys):
    fake_trt.install("10.3.0.26")
    out = tmp_path / "m.engine"
    assert main(["build", str(tiny_models.onnx), "--fp16", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "TensorRT 10.3: FP16 via builder flag"
    assert len([line for line in lines if line.startswith("built ")]) == 1
    assert lines[-1].startswith("built tensorrt fp16 (TensorRT 10.3: FP16 via builder flag) in ")
    from edgeseg.backends._build import human_size

    assert (
        f": {out} ({human_size(out.stat().st_size)}); vs source on 2 synthetic scenes: max|diff|="
        in lines[-1]
    )
    assert lines[-1].endswith(" (reported, not enforced)")  # the FAKE engine computes no CGNet


def test_tensorrt_11_refuses_fp32_int8(fake_trt, tmp_path, tiny_models, capsys):
    fake_trt.install("11.0.0.1")
    rc = main(
        ["build", str(tiny_models.onnx), "--int8", "--calib", str(tmp_path), "-o", str(tmp_path / "m.engine")]
    )
    assert rc == 2
    assert "edgeseg quantize --method ptq" in capsys.readouterr().err
    assert not (tmp_path / "m.engine").exists()


def test_gpu_fallback_needs_dla(fake_trt, tmp_path, tiny_models, capsys):
    fake_trt.install("10.3.0.26")
    assert (
        main(["build", str(tiny_models.onnx), "--fp16", "--gpu-fallback", "-o", str(tmp_path / "m.engine")])
        == 2
    )
    assert "--gpu-fallback only applies with --dla-core" in capsys.readouterr().err


def test_onnxruntime_prints_one_success_line(tmp_path, tiny_models, capsys):
    out = tmp_path / "m.ort.onnx"
    assert (
        main(["build", str(tiny_models.onnx), "--backend", "onnxruntime", "--threads", "1", "-o", str(out)])
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [lines[-1]] and lines[0].startswith("built onnxruntime fp32 (ONNX Runtime ")
    assert str(out) in lines[0] and out.is_file()


def test_coreml_arguments_reach_the_builder(tmp_path, tiny_models, capsys, monkeypatch):
    import edgeseg.backends.coreml.build as coreml_mod
    from edgeseg.backends._build import BuildResult

    seen = {}

    def fake_build(model, **kw):
        seen.update(kw, model=model)
        return BuildResult(
            backend="coreml",
            path=tmp_path / "x.mlpackage",
            precision="fp16",
            path_name="p",
            seconds=1.0,
            size_bytes=2048,
            card=tiny_models.card,
        )

    monkeypatch.setattr(coreml_mod, "build_coreml", fake_build)
    assert main(["build", str(tiny_models.pt), "--backend", "coreml", "--int8", "--min-target", "iOS17"]) == 0
    assert seen["int8"] is True and seen["min_target"] == "iOS17" and seen["model"] == str(tiny_models.pt)
    assert "built coreml fp16 (p) in 1.00 s" in capsys.readouterr().out


def test_missing_model_file(tmp_path, capsys):
    assert main(["build", str(tmp_path / "nope.onnx"), "--backend", "onnxruntime"]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,msg", [(["--dla-core", "-1"], "expected a number >= 0"), (["--threads", "0"], ">= 1")]
)
def test_argument_validation(tiny_models, capsys, args, msg):
    with pytest.raises(SystemExit):
        main(["build", str(tiny_models.onnx), *args])
    assert msg in capsys.readouterr().err


def test_available_backends(fake_trt, monkeypatch):
    from edgeseg.backends import available_backends, default_backend

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    ov = ["openvino"] if importlib.util.find_spec("openvino") else []
    et = ["executorch"] if importlib.util.find_spec("executorch") else []
    assert available_backends() == ["onnxruntime", *ov, "coreml", *et]
    fake_trt.install("10.3.0.26")
    assert (
        available_backends() == ["onnxruntime", *ov, "tensorrt", "coreml", *et]
        and default_backend() == "tensorrt"
    )
    stub = type(sys)("tensorrt")  # what the PyPI download stub leaves behind: a module without the API
    monkeypatch.setitem(sys.modules, "tensorrt", stub)
    assert "tensorrt" not in available_backends()


def test_human_size_is_always_mib():
    from edgeseg.backends._build import human_size

    sizes = (512, 2048, 3 * 1024**2, 12 * 1024**2 + 1024**2 // 4, 5 * 1024**3)
    assert [human_size(n) for n in sizes] == ["0.00 MiB", "0.00 MiB", "3.00 MiB", "12.2 MiB", "5120.0 MiB"]
