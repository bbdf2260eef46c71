"""edgeseg._env facts and ``edgeseg doctor``.

TensorRT cannot be installed here. The "installed" branches are exercised with a FAKE module
(``fake_tensorrt``) put into ``sys.modules``: that checks how OUR code reads and reports a
TensorRT API, and measures nothing about TensorRT itself.
"""

import importlib.abc
import importlib.util
import json
import sys
import types

import pytest

from edgeseg.backends import backend_matrix, library_versions
from edgeseg import _env
from edgeseg.backends.tensorrt._doctor import tensorrt_facts
from edgeseg.cli import main

PACKAGES = (
    "python",
    "numpy",
    "torch",
    "onnx",
    "onnxruntime",
    "opencv",
    "coremltools",
    "tensorrt",
    "pycuda",
    "edgeseg",
)


def fake_tensorrt(
    version: str = "10.3.0",
    *,
    fp16: bool = True,
    int8: bool = True,
    dla: int = 2,
    builder_error: Exception | None = None,
) -> types.ModuleType:
    """A stand-in exposing only the attributes edgeseg._env reads."""
    mod = types.ModuleType("tensorrt")
    mod.__version__ = version

    class Logger:
        WARNING = 2

        def __init__(self, severity=None):
            self.severity = severity

    class Builder:
        def __init__(self, logger):
            if builder_error is not None:
                raise builder_error
            self.platform_has_fast_fp16 = fp16
            self.platform_has_fast_int8 = int8
            self.num_DLA_cores = dla

    mod.Logger, mod.Builder = Logger, Builder
    return mod


def fake_pycuda() -> types.ModuleType:
    mod = types.ModuleType("pycuda")
    mod.VERSION_TEXT = "2024.1"
    return mod


def _row(rows, name):
    return next(r for r in rows if r["backend"] == name)


def test_doctor_text_mentions_every_package(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in PACKAGES:
        assert f"\n  {name} " in out or out.startswith(f"  {name} "), name
    for backend in ("torch-cpu", "torch-cuda", "onnxruntime-cpu", "onnxruntime-cuda", "tensorrt", "coreml"):
        assert backend in out
    assert "GStreamer" in out and "V4L2" in out and "FFMPEG" in out


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_doctor_json_here_has_no_tensorrt(capsys):
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(PACKAGES) <= set(report["libraries"])
    assert report["libraries"]["tensorrt"] is None
    trt = _row(report["backends"], "tensorrt")
    assert trt["can_build"] is False and trt["can_run"] is False
    assert "pypi.nvidia.com" in trt["reason"] and "JetPack" in trt["reason"]
    assert report["libraries"]["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]


def test_json_reports_tensorrt_absent_when_import_fails(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ModuleNotFoundError
    assert library_versions()["tensorrt"] is None
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["libraries"]["tensorrt"] is None
    assert _row(report["backends"], "tensorrt")["tensorrt"]["installed"] is False


def test_fake_tensorrt_10_installed_branch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("10.3.0", fp16=True, int8=False, dla=2))
    monkeypatch.setitem(sys.modules, "pycuda", fake_pycuda())
    versions = library_versions()
    assert versions["tensorrt"] == "10.3.0" and versions["pycuda"] == "2024.1"
    facts = tensorrt_facts()
    assert (
        facts["installed"]
        and facts["fast_fp16"] is True
        and facts["fast_int8"] is False
        and facts["dla_cores"] == 2
    )
    assert facts["paths"]["fp16"] == "TensorRT 10.3: FP16 via builder flag"
    assert "calibrator" in facts["paths"]["int8_calibrated"]
    assert "Q/DQ" in facts["paths"]["int8_qdq"]
    row = _row(backend_matrix(), "tensorrt")
    assert row["can_build"] is True and row["can_run"] is True and row["version"] == "10.3.0"

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "tensorrt     10.3.0" in out
    assert "fast FP16 yes, fast INT8 no, DLA cores 2" in out
    assert "--fp16: TensorRT 10.3: FP16 via builder flag" in out


def test_fake_tensorrt_11_paths_are_strongly_typed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("11.0.0"))
    paths = tensorrt_facts()["paths"]
    assert "strongly typed FP16" in paths["fp16"]
    assert paths["int8_calibrated"].startswith("not available:") and "calibrat" in paths["int8_calibrated"]
    assert "strongly typed INT8 Q/DQ" in paths["int8_qdq"]


def test_fake_tensorrt_without_pycuda_can_build_not_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("8.6.1"))
    monkeypatch.setitem(sys.modules, "pycuda", None)
    row = _row(backend_matrix(), "tensorrt")
    assert row["can_build"] is True and row["can_run"] is False and "pycuda" in row["reason"]
    assert "TensorRT 8.6" in row["tensorrt"]["paths"]["fp16"]


def test_fake_tensorrt_builder_failure_is_reported(monkeypatch, capsys):
    err = TypeError("pybind11::init(): factory function returned nullptr")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(builder_error=err))
    row = _row(backend_matrix(), "tensorrt")
    assert row["can_build"] is False and row["can_run"] is False
    assert "cannot create a builder" in row["reason"] and "nullptr" in row["reason"]
    assert main(["doctor"]) == 0


def test_tensorrt_download_stub_is_broken_not_installed(monkeypatch):
    stub = types.ModuleType("tensorrt")
    stub.__version__ = "10.0.0"
    monkeypatch.setitem(sys.modules, "tensorrt", stub)
    assert library_versions()["tensorrt"].startswith("broken:")
    row = _row(backend_matrix(), "tensorrt")
    assert row["can_build"] is False and "no Builder" in row["reason"]


class _Raises(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorrt":
            raise OSError("libnvinfer.so.10: cannot open shared object file: No such file or directory")
        return None


def test_broken_import_reported_not_raised(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Raises(), *sys.meta_path])
    v = library_versions()["tensorrt"]
    assert v.startswith("broken: OSError") and "libnvinfer" in v
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert _row(report["backends"], "tensorrt")["can_run"] is False


SAMPLE_JETSON_BUILD = """
General configuration for OpenCV 4.5.4 =====================================
  GUI:
    GTK+:                        YES (ver 3.24.20)

  Video I/O:
    DC1394:                      YES (2.2.5)
    FFMPEG:                      NO
    GStreamer:                   YES (1.16.3)
    v4l/v4l2:                    linux/videodev2.h

  Parallel framework:            TBB (ver 2020.1 interface 11101)
  Other third-party libraries:
    GStreamer plugins:           NO
"""


def test_opencv_video_backends_parses_build_information():
    facts = _env.opencv_video_backends(SAMPLE_JETSON_BUILD)
    assert facts["GStreamer"] == {"available": True, "detail": "YES (1.16.3)"}
    assert facts["V4L2"] == {"available": True, "detail": "linux/videodev2.h"}
    assert facts["FFMPEG"]["available"] is False
    none = _env.opencv_video_backends("  Video I/O:\n    FFMPEG:    YES\n\n  Parallel framework: pthreads\n")
    assert none["FFMPEG"]["available"] is True
    assert none["GStreamer"]["available"] is False and none["V4L2"]["available"] is False


def test_opencv_video_backends_here_match_cv2():
    import cv2

    facts = _env.opencv_video_backends()
    assert set(facts) == {"GStreamer", "V4L2", "FFMPEG"}
    assert facts["GStreamer"]["available"] == (
        "GStreamer:                   YES" in cv2.getBuildInformation()
    )


def test_jetson_info_from_files(tmp_path):
    model, release = tmp_path / "model", tmp_path / "nv_tegra_release"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    release.write_text(
        "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug "
        "1 2023\n"
    )
    info = _env.jetson_info(model_path=model, release_path=release)
    assert info == {"model": "NVIDIA Jetson Orin Nano Developer Kit", "l4t": "35.4.1", "jetpack": "5.1.2"}
    release.write_text("# R36 (release), REVISION: 9.9, GCID: 1\n")
    assert (
        _env.jetson_info(model_path=model, release_path=release)["jetpack"] is None
    )  # unknown pair: L4T only
    assert _env.jetson_info(model_path=tmp_path / "none", release_path=tmp_path / "none") is None


def test_cpu_model_parses_x86_and_arm():
    assert _env.cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    arm = "processor\t: 0\nCPU part\t: 0xd42\nprocessor\t: 1\nCPU part\t: 0xd42\n"
    assert _env.cpu_model(arm) == "Arm (CPU part 0xd42)"


def test_cpu_features_lists_the_int8_relevant_isa_flags_of_x86_and_arm():
    x86 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni amx_int8 avx512vl\n"
    assert _env.cpu_features(x86) == ["avx2", "avx512f", "avx512_vnni", "amx_int8"]
    zen3 = "processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n"  # no VNNI: int8 via int16 pairs
    assert _env.cpu_features(zen3) == ["avx2"]
    assert _env.cpu_features("processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\n") == [
        "asimd",
        "asimddp",
        "i8mm",
    ]
    assert _env.cpu_features("") is None
    assert _env.has_vnni(["avx2"], "x86_64") is False and _env.has_vnni(["avx2", "avx_vnni"], "AMD64") is True
    assert _env.has_vnni(["asimd"], "aarch64") is None and _env.has_vnni(None, "x86_64") is None


def test_machine_info_fields():
    m = _env.machine_info()
    for key in (
        "cpu",
        "cpu_features",
        "physical_cores",
        "logical_cores",
        "memory_bytes",
        "os",
        "torch_threads",
        "cuda_available",
        "gpus",
        "jetson",
    ):
        assert key in m, key
    assert m["logical_cores"] >= 1 and (m["memory_bytes"] or 0) > 0
    json.dumps(m)


def test_coreml_runs_only_on_macos(monkeypatch):
    import platform

    if library_versions()["coremltools"] is None:
        pytest.skip("coremltools not installed")
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    assert _row(backend_matrix(), "coreml")["can_run"] is False
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    row = _row(backend_matrix(), "coreml")
    assert row["can_build"] is True and row["can_run"] is True


@pytest.mark.parametrize(
    "flags,warned",
    [(["avx2"], True), (["avx2", "avx512f", "avx512_vnni"], False), (["avx2", "avx_vnni"], False)],
)
def test_doctor_warns_about_int8_on_an_x86_cpu_without_vnni(monkeypatch, capsys, flags, warned):
    monkeypatch.setattr(_env, "cpu_features", lambda cpuinfo=None: flags)
    monkeypatch.setattr(_env.platform, "machine", lambda: "x86_64")
    assert main(["doctor"]) == 0
    isa = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("isa"))
    assert ", ".join(flags) in isa and ("no VNNI" in isa) is warned
