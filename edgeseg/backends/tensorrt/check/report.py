"""``edgeseg trt-check``'s work: run the real-TensorRT tests and write a report to send back.

``run_check`` runs ``pytest -m tensorrt`` on tests/backends/tensorrt/test_build_real.py (a source
checkout is needed: the tests are not installed with the package) in a child process, reads each
test's outcome and recorded figures from pytest's JUnit XML, adds the machine facts (TensorRT,
GPU, Jetson model, L4T / JetPack from /etc/nv_tegra_release) and writes, atomically:

- ``edgeseg-jetson-report.json``: everything, machine-readable;
- ``edgeseg-jetson-report.md``: the same as tables, to paste into an issue;
- ``edgeseg-jetson-pytest.log``: pytest's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

from edgeseg.errors import EdgesegError
from edgeseg.backends.tensorrt.check import ENV_DATA, ENV_MAX_FRAMES, ENV_ONNX, ENV_QDQ_ONNX
from edgeseg.backends.tensorrt.check import tolerances as tol

FORMAT = "edgeseg.jetson-report/1"
REPORT_JSON = "edgeseg-jetson-report.json"
REPORT_MD = "edgeseg-jetson-report.md"
PYTEST_LOG = "edgeseg-jetson-pytest.log"
TEST_FILE = Path("tests") / "backends" / "tensorrt" / "test_build_real.py"
#: Figures shown in the Markdown table, in this order (all recorded ones are in the JSON).
SHOWN = (
    "precision",
    "tf32",
    "max_abs_diff",
    "max_rel_diff",
    "mismatches",
    "atol",
    "rtol",
    "argmax_agreement",
    "reference_miou",
    "miou",
    "drop_points",
    "bound_points",
    "frames",
)


def source_root() -> Path:
    """The checkout edgeseg is imported from (the folder holding ``edgeseg/`` and ``tests/``)."""
    return Path(__file__).resolve().parents[4]


def find_tests(root: Path | None = None) -> Path:
    path = (root or source_root()) / TEST_FILE
    if not path.is_file():
        raise EdgesegError(
            f"{path} not found: edgeseg trt-check runs the tests of a source checkout; clone the "
            "repository and "
            "install it with `pip install --no-deps -e .` (docs/jetson.md), then run it again"
        )
    return path


def test_environment(
    *, data: str | None, onnx: str | None, qdq_onnx: str | None, max_frames: int | None
) -> dict[str, str]:
    """The EDGESEG_TRT_* variables for the tests (unset ones are left out)."""
    pairs = {
        ENV_DATA: data,
        ENV_ONNX: onnx,
        ENV_QDQ_ONNX: qdq_onnx,
        ENV_MAX_FRAMES: None if max_frames is None else str(max_frames),
    }
    return {k: str(v) for k, v in pairs.items() if v is not None}


def run_pytest(
    test_paths: Sequence[Path],
    *,
    junit: Path,
    log: Path,
    env: dict[str, str],
    root: Path,
    marker: str = "tensorrt",
    timeout: float | None = None,
) -> tuple[int, str]:
    """Run pytest in a child process (its output goes to ``log``); returns (exit code, last summary line)."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *map(str, test_paths),
        "-m",
        marker,
        "-rA",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
    ]
    child_env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    with open(log, "w", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.run(
            cmd, cwd=root, env=child_env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
        )
    lines = [
        ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
    ]
    summary = next((ln.strip("= ") for ln in reversed(lines) if ln.startswith("=") and " in " in ln), "")
    return proc.returncode, summary


def _value(text: str | None) -> Any:
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return text


def parse_junit(path: Path) -> list[dict[str, Any]]:
    """Each test case of a JUnit XML: name, outcome (passed/failed/error/skipped), message, seconds,
    and the figures it recorded (``record_property``, JSON-decoded)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise EdgesegError(f"{path}: cannot read pytest's JUnit XML ({e})") from e
    out = []
    for case in root.iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                text = (el.get("message") or el.text or "").strip()
                message = text.splitlines()[0] if text else None
                break
        props = {p.get("name"): _value(p.get("value")) for p in case.iter("property")}
        out.append(
            {
                "name": case.get("name"),
                "classname": case.get("classname"),
                "outcome": outcome,
                "message": message,
                "seconds": float(case.get("time") or 0.0),
                "figures": props,
            }
        )
    return out


def _gpu() -> dict[str, Any]:
    try:
        import pycuda.driver as cuda

        cuda.init()
        dev = cuda.Device(0)
        major, minor = dev.compute_capability()
        facts: dict[str, Any] = {"name": str(dev.name()), "compute_capability": f"{major}.{minor}"}
    except Exception as e:  # noqa: BLE001 - no pycuda / no driver is a fact to report
        return {"error": f"{e.__class__.__name__}: {e}"}
    for key, get in (
        ("memory_bytes", lambda: int(dev.total_memory())),
        ("driver_version", lambda: int(cuda.get_driver_version())),
    ):
        try:
            facts[key] = get()
        except Exception:  # noqa: BLE001 - optional facts
            facts[key] = None
    return facts


def machine_facts(
    *, release_path: str | Path = "/etc/nv_tegra_release", model_path: str | Path = "/proc/device-tree/model"
) -> dict[str, Any]:
    """TensorRT, GPU (pycuda), Jetson model / L4T / JetPack, library versions, OS and Python."""
    from edgeseg import _env
    from edgeseg.backends import library_versions
    from edgeseg.backends.tensorrt._doctor import tensorrt_facts

    machine = _env.machine_info()  # the one machine-facts function; the Jetson read from the given paths
    jetson = _env.jetson_info(model_path=model_path, release_path=release_path)
    raw = _env._read(release_path)
    if jetson is not None and raw:
        jetson = {**jetson, "nv_tegra_release": raw.splitlines()[0]}
    return {
        "tensorrt": tensorrt_facts(),
        "gpu": _gpu(),
        "jetson": jetson,
        "libraries": library_versions(),
        **{k: machine[k] for k in ("os", "arch", "python")},
    }


def bounds() -> dict[str, Any]:
    """The bounds the tests used, with their sources (from edgeseg.backends.tensorrt.check.tolerances)."""
    return {
        "fp32": {"atol": tol.FP32_ATOL, "rtol": tol.FP32_RTOL, "source": tol.SOURCES["fp32"]},
        "fp16": {"atol": tol.FP16_ATOL, "rtol": tol.FP16_RTOL, "source": tol.SOURCES["fp16"]},
        "tf32": {"atol": tol.TF32_ATOL, "rtol": tol.TF32_RTOL, "source": tol.SOURCES["tf32"]},
        "miou_drop_max_points": {"value": tol.MIOU_DROP_MAX_POINTS, "source": tol.SOURCES["miou"]},
    }


def build_report(
    *,
    machine: dict[str, Any],
    tests: list[dict[str, Any]],
    exit_code: int,
    summary: str,
    command: str,
    inputs: dict[str, str],
) -> dict[str, Any]:
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failed", "error", "skipped")}
    return {
        "format": FORMAT,
        "command": command,
        "inputs": inputs,
        "machine": machine,
        "bounds": bounds(),
        "pytest": {"exit_code": exit_code, "summary": summary, "counts": counts},
        "tests": tests,
        "verdict": "pass"
        if exit_code == 0 and counts["passed"] and not counts["failed"] and not counts["error"]
        else (
            "no tests ran"
            if not counts["passed"] and not counts["failed"] and not counts["error"]
            else "fail"
        ),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    trt, gpu, jet = m.get("tensorrt") or {}, m.get("gpu") or {}, m.get("jetson") or {}
    lines = [
        "# edgeseg TensorRT check",
        "",
        f"Verdict: **{report['verdict']}** — pytest: {report['pytest']['summary'] or 'no summary'} "
        f"(exit code {report['pytest']['exit_code']})",
        "",
        "| | |",
        "|---|---|",
        f"| TensorRT | {trt.get('version') or trt.get('problem') or 'not installed'} |",
        f"| GPU | {gpu.get('name', gpu.get('error', ''))} (compute capability "
        f"{gpu.get('compute_capability', '?')}) |",
        f"| Jetson | {jet.get('model') or '-'} |",
        f"| L4T / JetPack | {jet.get('l4t') or '-'} / {jet.get('jetpack') or '-'} |",
        f"| OS / Python | {m.get('os')} / {m.get('python')} |",
        f"| command | `{report['command']}` |",
        "",
        "## Tests",
        "",
        "| test | outcome | " + " | ".join(SHOWN) + " | note |",
        "|---|---|" + "---|" * len(SHOWN) + "---|",
    ]
    for t in report["tests"]:
        figs = t["figures"]
        note = (t["message"] or "").replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(
            f"| {t['name']} | {t['outcome']} | "
            + " | ".join(_fmt(figs.get(k)) for k in SHOWN)
            + f" | {note} |"
        )
    lines += ["", "## Bounds", ""]
    for name, b in report["bounds"].items():
        value = b.get("value", f"atol={b.get('atol')}, rtol={b.get('rtol')}")
        lines.append(f"- {name}: {value} — {b['source']}")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    from edgeseg._io import atomic_write_json, atomic_write_text

    return (
        atomic_write_json(out_dir / REPORT_JSON, report),
        atomic_write_text(out_dir / REPORT_MD, render_markdown(report)),
    )


def run_check(
    *,
    out_dir: str | os.PathLike = ".",
    data: str | None = None,
    onnx: str | None = None,
    qdq_onnx: str | None = None,
    max_frames: int | None = None,
    command: str = "edgeseg trt-check",
    test_paths: Sequence[Path] | None = None,
    root: Path | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run the real-TensorRT tests and write the report into ``out_dir`` (default: here). Returns the
    report (``report["files"]``: the paths written). ``test_paths``/``root``: for tests of this glue."""
    import tempfile

    from edgeseg._io import atomic_write_text, ensure_writable_dir

    root = root or source_root()
    paths = list(test_paths) if test_paths else [find_tests(root)]
    for label, f in (("--onnx", onnx), ("--int8-onnx", qdq_onnx)):
        if f is not None and not Path(f).is_file():
            raise EdgesegError(
                f"{label} {f}: file not found (expected an ONNX from edgeseg export / edgeseg quantize)"
            )
    if data is not None:
        from edgeseg.data.datasets import open_dataset

        open_dataset(data, "val")  # a bad spec or folder fails here, before anything runs
    out = ensure_writable_dir(out_dir, create=True)
    env = test_environment(data=data, onnx=onnx, qdq_onnx=qdq_onnx, max_frames=max_frames)
    with tempfile.TemporaryDirectory() as tmp:
        junit, log = Path(tmp) / "junit.xml", Path(tmp) / "pytest.log"
        code, summary = run_pytest(paths, junit=junit, log=log, env=env, root=root, timeout=timeout)
        tests = parse_junit(junit) if junit.is_file() else []
        atomic_write_text(out / PYTEST_LOG, log.read_text(encoding="utf-8", errors="replace"))
    report = build_report(
        machine=machine_facts(), tests=tests, exit_code=code, summary=summary, command=command, inputs=env
    )
    json_path, md_path = write_report(report, out)
    return {**report, "files": [str(json_path), str(md_path), str(out / PYTEST_LOG)]}
