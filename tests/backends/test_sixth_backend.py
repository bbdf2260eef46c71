"""The worked example of docs/architecture.md: a sixth backend is one folder and one line in BACKENDS.

The folder ``echo/`` (its ``__init__.py``, ``build.py``, ``runner.py``, as written in the docs) is
put beside the real backends for this test only; then the build command's flags and help, every
command's help, ``open_runner``, ``read_card``, ``doctor`` and the bench skip reasons know it
without another edit."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import edgeseg.backends as backends

INIT = '''
"""Echo: a toy backend whose artifact is its card (``model.echo``) and whose logits are a constant."""

from pathlib import Path

from edgeseg.backends._options import CALIB_NUM, THREADS
from edgeseg.backends._spec import BackendSpec, Option, library_row


def _read_card(path):
    from edgeseg.card import ModelCard

    return ModelCard.from_json(Path(path).read_text(), where=str(path))


SPEC = BackendSpec(
    "echo", "Echo", (".echo",), runner="EchoRunner", builds=True, label="Echo constant", short="ECH",
    output="MODEL.echo", packages=("numpy", "echo-kernels"), install="pip install numpy echo-kernels",
    calib_num=32, artifact_noun="card file",
    options=(
        THREADS, CALIB_NUM, Option("--echo-level", "level", "the constant every logit gets", kind=float)
    ),
    available=lambda: True, read_card=_read_card,
    default_output=lambda onnx: onnx.with_suffix(".echo"),
    doctor_rows=lambda versions, machine: [
        library_row("echo", versions, "numpy", works="always", install="-")
    ],
)
'''

BUILD = '''
from pathlib import Path

from edgeseg._io import atomic_write_text, check_output_path
from edgeseg.backends._build import BuildResult, timed_build
from edgeseg.onnxgraph.info import load_exported
from edgeseg.backends.echo import SPEC


@timed_build("echo")
def build_echo(
    onnx, *, output=None, threads=None, calib_num=None, level=0.0, command=None, log=print
) -> BuildResult:
    """Write the ONNX's card, with ``level``, as ``output`` (default model.echo)."""
    src = Path(onnx)
    out = check_output_path(output or SPEC.default_output(src))
    _, card, _ = load_exported(src)
    card = card.replace(extra={**card.extra, "backend": "echo", "level": level, "threads": threads})
    atomic_write_text(out, card.to_json())
    return BuildResult(path=out, precision="fp32", path_name=f"echo at {level}", card=card)
'''

RUNNER = """
from pathlib import Path

import numpy as np

from edgeseg.runner import BaseRunner
from edgeseg.backends.echo import SPEC


class EchoRunner(BaseRunner):
    backend = "echo"

    def __init__(self, path, *, level=None):
        self.path = Path(path)
        self.card = SPEC.read_card(self.path)
        self.precision = "fp32"
        self.level = self.card.extra["level"] if level is None else level
        self.options = {"level": self.level}
        self._limits(size=tuple(self.card.input_size), batch=None)

    def _infer_chunk(self, x):
        return np.full((x.shape[0], self.card.num_classes, *x.shape[2:]), self.level, np.float32)

    def _release(self):
        pass
"""


@pytest.fixture
def echo(tmp_path, monkeypatch):
    """The folder, on edgeseg.backends' search path, and the one line in BACKENDS."""
    import importlib
    import sys

    pkg = tmp_path / "backends" / "echo"
    pkg.mkdir(parents=True)
    for name, text in (("__init__.py", INIT), ("build.py", BUILD), ("runner.py", RUNNER)):
        (pkg / name).write_text(textwrap.dedent(text))
    monkeypatch.setattr(backends, "__path__", [*backends.__path__, str(pkg.parent)])
    for mod in [m for m in sys.modules if m.startswith("edgeseg.backends.echo")]:
        monkeypatch.delitem(sys.modules, mod)
    spec = importlib.import_module("edgeseg.backends.echo").SPEC
    monkeypatch.setitem(backends.BACKENDS, "echo", spec)  # the one line
    yield spec
    for mod in [m for m in sys.modules if m.startswith("edgeseg.backends.echo")]:
        sys.modules.pop(mod, None)


def test_a_sixth_backend_needs_one_folder_and_one_line(echo, tiny_models, tmp_path, capsys):
    from edgeseg.bench._availability import skip_reason
    from edgeseg.cli import main

    with pytest.raises(SystemExit):
        main(["build", "--help"])
    help_text = capsys.readouterr().out
    assert "--echo-level" in help_text and "echo         --threads --calib-num --echo-level" in help_text
    assert "(default 256; executorch 100; echo 32)" in " ".join(help_text.split())  # its spec's calib_num
    assert "ExecuTorch program, Echo card file) from" in " ".join(help_text.split())  # its artifact_noun
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "ExecuTorch program, Echo card file) from" in " ".join(capsys.readouterr().out.split())
    from edgeseg.cli import COMMANDS

    naming_kinds = []
    for name in COMMANDS:  # every command whose help lists the artifact kinds lists .echo among them
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        if ".mlpackage" in text:
            naming_kinds.append(name)
            assert ".echo" in text, f"edgeseg {name} --help lists the artifact kinds without .echo"
    assert {"eval", "predict", "bench", "camera"} <= set(naming_kinds)

    out = tmp_path / "m.echo"
    assert (
        main(
            [
                "build",
                str(tiny_models.onnx),
                "--backend",
                "echo",
                "--echo-level",
                "2.5",
                "--threads",
                "3",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("built echo fp32 (echo at 2.5) in ")
    assert main(["build", str(tiny_models.onnx), "--backend", "echo", "--fp16"]) == 2
    assert "--backend echo does not take --fp16" in capsys.readouterr().err

    assert backends.read_card(out).extra["threads"] == 3
    with backends.open_runner(out) as r:
        y = r.infer(np.zeros((3, 3, *tiny_models.card.input_size), np.float32))
    assert y.shape == (3, 11, *tiny_models.card.input_size) and (y == 2.5).all()
    assert any(row["backend"] == "echo" and row["can_run"] for row in backends.backend_matrix())
    assert skip_reason(str(out), {}) is None
    from edgeseg.commands._policy import card_suffixes

    assert ".echo" in card_suffixes()  # the overwrite guard reads its card's precision too


def test_reports_and_doctor_describe_the_sixth_backend_from_its_spec(echo, capsys):
    """The report label, doctor's library list and the install hint come from the spec alone."""
    from edgeseg.cli import main
    from edgeseg.errors import MissingDependencyError
    from edgeseg.report.paths import describe

    info = describe({"backend": "echo", "precision": "fp32", "id": "m.echo"})
    assert (info.name, info.short) == ("Echo constant FP32", "ECH FP32")
    assert list(backends.libraries())[-2:] == ["echo-kernels", "edgeseg"]  # its packages, before edgeseg
    assert backends.library_versions()["echo-kernels"] is None
    assert main(["doctor"]) == 0
    assert "  echo-kernels not installed" in capsys.readouterr().out
    with pytest.raises(
        MissingDependencyError, match=r"^echo-kernels is not installed \(pip install numpy echo-kernels\)$"
    ):
        echo.require("echo-kernels")
    assert echo.require("numpy") is np
