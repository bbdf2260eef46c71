"""One package per backend, each described by one ``BackendSpec`` (see ``_spec``).

``BACKENDS`` is the explicit registry: adding a backend is one folder ``edgeseg/backends/<name>/``
(``__init__.py`` with its ``SPEC``, ``build.py``, ``runner.py``) and one line here. Everything else
(``open_runner``'s suffixes, the ``build`` command's flags, help texts, ``doctor``, bench skips,
install hints) is derived from these specs.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from edgeseg._shipped import resolve_model
from edgeseg.runner import BaseRunner, Runner, check_batch, check_finite
from edgeseg.backends._spec import BackendSpec
from edgeseg.backends.coreml import SPEC as COREML
from edgeseg.backends.executorch import SPEC as EXECUTORCH
from edgeseg.backends.onnxruntime import SPEC as ONNXRUNTIME
from edgeseg.backends.openvino import SPEC as OPENVINO
from edgeseg.backends.tensorrt import SPEC as TENSORRT
from edgeseg.backends.torch import SPEC as TORCH
from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError, UnsupportedOptionError

#: name -> spec. Explicit and ordered (doctor, help texts and the build command follow this order).
BACKENDS: dict[str, BackendSpec] = {
    "torch": TORCH,
    "onnxruntime": ONNXRUNTIME,
    "openvino": OPENVINO,
    "tensorrt": TENSORRT,
    "coreml": COREML,
    "executorch": EXECUTORCH,
}

__all__ = [
    "BACKENDS",
    "BackendSpec",
    "BaseRunner",
    "Runner",
    "artifact_kinds",
    "available_backends",
    "builders",
    "backend_matrix",
    "check_batch",
    "check_finite",
    "default_backend",
    "libraries",
    "library_versions",
    "open_runner",
    "read_card",
    "runner_class",
    "spec_for",
]


def _suffix_map() -> dict[str, BackendSpec]:
    out: dict[str, BackendSpec] = {}
    for spec in BACKENDS.values():
        for suffix in spec.suffixes:
            if suffix in out:
                raise ValueError(f"suffix {suffix} is claimed by {out[suffix].name} and {spec.name}")
            out[suffix] = spec
    return out


def artifact_kinds() -> str:
    """Every artifact ending a runner opens, for help texts: '.pt, .onnx, .xml, .engine, .plan,
    .mlpackage'."""
    return ", ".join(_suffix_map())


def builders() -> dict[str, BackendSpec]:
    """The backends that build something (``--backend`` choices), in ``BACKENDS`` order."""
    return {n: s for n, s in BACKENDS.items() if s.builder is not None}


def spec_for(path: str | os.PathLike) -> BackendSpec:
    """The spec whose runner opens ``path`` (by its ending); EdgesegError naming the endings known."""
    p = Path(path)
    spec = _suffix_map().get(p.suffix.lower())
    if spec is None:
        raise EdgesegError(
            f"{p}: no runner for files ending in {p.suffix or '(no suffix)'!r}; expected one of "
            f"{artifact_kinds()}"
        )
    return spec


def runner_class(path: str | os.PathLike) -> type:
    return spec_for(path).runner_class()


def read_card(path: str | os.PathLike) -> ModelCard:
    """The model card of any artifact (or shipped model name), read without running it."""
    p = resolve_model(path)
    return spec_for(p).read_card(p)


def open_runner(path: str | os.PathLike, **options: Any) -> Runner:
    """Open the runner for ``path``, an artifact or a shipped model name such as "cgnet_camvid" (use it as a
    context manager). Options go to the runner; one it does not take is an UnsupportedOptionError naming
    those it does."""
    from edgeseg._sniff import check_input_file

    p = resolve_model(path)
    check_input_file(
        p, flag="model"
    )  # its first bytes before any native loader (random bytes as .pte aborted)
    cls = runner_class(p)
    params = inspect.signature(cls.__init__).parameters
    accepted = [n for n, q in params.items() if q.kind is inspect.Parameter.KEYWORD_ONLY]
    takes_any = any(q.kind is inspect.Parameter.VAR_KEYWORD for q in params.values())
    unknown = [k for k in options if k not in accepted]
    if unknown and not takes_any:
        raise UnsupportedOptionError(
            f"{p.name}: the {cls.__name__} does not take {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(accepted) or 'no options'}"
        )
    return cls(p, **options)


def available_backends() -> list[str]:
    """Backends that build and whose library is installed here, in ``BACKENDS`` order."""
    return [n for n, s in builders().items() if s.available()]


def default_backend() -> str:
    """'tensorrt' when TensorRT imports; otherwise an error naming the backends that are available."""
    if TENSORRT.available():
        return "tensorrt"
    others = [b for b in available_backends() if b != "tensorrt"]
    raise EdgesegError(
        "TensorRT is not installed here, so there is no default backend; "
        + (
            f"available backends: {', '.join(others)} (pass --backend NAME)"
            if others
            else "no backend is available"
        )
        + " — see docs/jetson.md to install TensorRT"
    )


def backend_matrix(
    *, versions: dict[str, str | None] | None = None, machine: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Per backend row: ``backend``, ``can_build``, ``can_run``, ``version``, ``reason`` (+ details), from
    each spec's ``doctor_rows`` in ``BACKENDS`` order (torch-cpu, torch-cuda, onnxruntime-cpu,
    onnxruntime-cuda, onnxruntime-tensorrt, openvino, tensorrt, coreml, executorch). ``can_build`` is None
    where there is nothing to build. Pass ``versions``/``machine`` from
    ``library_versions()``/``machine_info()`` (``edgeseg._env``) to avoid asking twice."""
    from edgeseg import _env

    v = library_versions() if versions is None else versions
    mach = _env.machine_info() if machine is None else machine
    return [r for spec in BACKENDS.values() for r in spec.doctor_rows(v, mach)]


def libraries() -> dict[str, str]:
    """Reported name -> module, in doctor's order: ``_env.LIBRARIES`` with every spec's packages
    (``BACKENDS`` order) before edgeseg."""
    from edgeseg import _env

    out = {k: v for k, v in _env.LIBRARIES.items() if k != "edgeseg"}
    for spec in BACKENDS.values():
        for name, module in spec.libraries().items():
            out.setdefault(name, module)
    return {**out, "edgeseg": _env.LIBRARIES["edgeseg"]}


def library_versions() -> dict[str, str | None]:
    """``_env.library_versions`` over ``libraries()``: every backend's packages, those a spec marks
    ``metadata_only`` read from package metadata."""
    from edgeseg import _env

    slow = {p for spec in BACKENDS.values() for p in spec.metadata_only}
    return _env.library_versions(libraries(), metadata_only=slow)
