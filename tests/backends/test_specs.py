"""Every spec in BACKENDS checked against the rest of edgeseg: its extra and packages in pyproject.toml,
a CLI flag for each option, a conformance artifact factory for each suffix, doctor agreeing with
``available()``, its runner and build function naming it, and its install hint reaching users."""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

import pytest

from edgeseg.backends import BACKENDS, artifact_kinds, backend_matrix, builders, library_versions, spec_for

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.8-3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


@pytest.fixture(scope="module")
def build_parser() -> argparse.ArgumentParser:
    from edgeseg.commands import build

    p = argparse.ArgumentParser()
    build.add_arguments(p)
    return p


NAMES = list(BACKENDS)


def test_registry_is_explicit_and_names_match():
    assert NAMES == ["torch", "onnxruntime", "openvino", "tensorrt", "coreml", "executorch"]
    assert all(spec.name == name for name, spec in BACKENDS.items())


@pytest.mark.parametrize("name", NAMES)
def test_extra_and_packages_are_in_pyproject(name):
    spec, project = BACKENDS[name], _pyproject()["project"]
    if spec.extra is None:  # core dependencies
        assert set(spec.packages) <= _names(project["dependencies"])
    else:
        extras = project["optional-dependencies"]
        assert spec.extra in extras, f"{name}: extra {spec.extra!r} is not in pyproject.toml"
        assert set(spec.packages) <= _names(extras[spec.extra])
        assert f"edgeseg[{spec.extra}]" in spec.install or "pip install" in spec.install


@pytest.mark.parametrize("name", NAMES)
def test_each_option_has_a_cli_flag_and_a_build_keyword(name, build_parser):
    spec = BACKENDS[name]
    flags = {s: a for a in build_parser._actions for s in a.option_strings}
    for opt in spec.options:
        assert opt.flag in flags and flags[opt.flag].dest == opt.param
    if spec.builder is None:
        assert not spec.options and name not in builders()
        return
    params = inspect.signature(spec.build_function()).parameters
    assert set(spec.params()) <= set(params), f"{name}: options without a build keyword"
    assert {"output", "command", "log"} <= set(params)
    backend_action = next(a for a in build_parser._actions if a.dest == "backend")
    assert name in backend_action.choices


@pytest.mark.parametrize("name", NAMES)
def test_each_suffix_has_a_conformance_factory_and_finds_this_spec(name, artifact_factories):
    spec = BACKENDS[name]
    assert spec.suffixes
    for suffix in spec.suffixes:
        assert suffix in artifact_factories and suffix == suffix.lower()
        assert spec_for(Path("m" + suffix.upper())) is spec
        assert suffix in artifact_kinds()
    if spec.default_output is not None:
        for source in spec.sources:
            assert spec.default_output(Path("dir/model" + source)).suffix in spec.suffixes


@pytest.mark.parametrize("name", NAMES)
def test_runner_names_its_backend(name):
    from edgeseg.backends import BaseRunner

    cls = BACKENDS[name].runner_class()
    assert issubclass(cls, BaseRunner) and cls.backend == name


@pytest.mark.parametrize("name", NAMES)
def test_doctor_rows_agree_with_available(name):
    from edgeseg import _env

    spec = BACKENDS[name]
    rows = spec.doctor_rows(library_versions(), _env.machine_info())
    assert rows and all(r["backend"] == name or r["backend"].startswith(name + "-") for r in rows)
    main = rows[0]
    if not spec.available():
        assert main["can_run"] is False and not main["can_build"]
        assert spec.install.split(" (")[0] in main["reason"] or "not installed" in main["reason"]
    else:
        assert "not installed" not in main["reason"]
        if spec.builder is not None and name != "tensorrt":  # TensorRT may import but lack a GPU
            assert main["can_build"] is True


def test_doctor_rows_cover_every_spec_in_order():
    seen = [r["backend"].split("-")[0] for r in backend_matrix()]
    assert list(dict.fromkeys(seen)) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_missing_library_is_a_skip_reason_with_the_install_hint(name, monkeypatch):
    from edgeseg.bench._availability import skip_reason

    spec = BACKENDS[name]
    fake = type(spec)(**{**spec.__dict__, "available": lambda: False, "run_problem": lambda: None})
    monkeypatch.setitem(BACKENDS, name, fake)
    reason = skip_reason("m" + spec.suffixes[0], {})
    assert reason == f"{spec.title} is not installed on this machine ({spec.install})"
