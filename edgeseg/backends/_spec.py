"""``BackendSpec``: everything edgeseg knows about one backend, in one record.

Each backend package (``edgeseg/backends/<name>/__init__.py``) holds one ``SPEC``; the ``BACKENDS``
dict in ``edgeseg/backends/__init__.py`` lists them. Commands, ``doctor``, ``bench`` and
``open_runner`` read these records instead of restating a backend's suffixes, options, packages or
install hint. Importing a spec imports no backend library: ``runner`` and ``builder`` are
``"module:attribute"`` strings resolved on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeseg.card import ModelCard


@dataclass(frozen=True)
class Option:
    """One build option: its command-line ``flag``, the build function keyword it sets (``param``),
    and argparse settings. ``switch`` True/False: a flag without a value that sets ``param`` to that
    value; otherwise the flag takes a value (``kind`` converts it, ``choices`` limits it).
    ``group`` names the help section (default: the backends that accept it). ``aliases``: former
    spellings of ``flag``, still accepted (hidden from ``--help``, with a deprecation note)."""

    flag: str
    param: str
    help: str
    switch: bool | None = None
    kind: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    group: str | None = None
    aliases: tuple[str, ...] = ()

    def argparse_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``add_argument``: every option defaults to None (= not given)."""
        if self.switch is not None:
            return {
                "dest": self.param,
                "action": "store_const",
                "const": self.switch,
                "default": None,
                "help": self.help,
            }
        kw: dict[str, Any] = {"dest": self.param, "default": None, "help": self.help}
        if self.kind is not None:
            kw["type"] = self.kind
        if self.choices is not None:
            kw["choices"] = self.choices
        if self.metavar is not None:
            kw["metavar"] = self.metavar
        return kw


def module_installed(module: str) -> bool:
    """True when ``module`` can be found (not imported: cheap, no side effects)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve(target: str) -> Any:
    """``"package.module:attribute"`` -> the attribute (imports the module)."""
    mod, _, attr = target.partition(":")
    return getattr(importlib.import_module(mod), attr)


def _one_file(path: Path) -> list[Path]:
    return [Path(path)]


@dataclass(frozen=True)
class BackendSpec:
    """One backend.

    - ``name``: the ``--backend`` value and the runner's ``backend`` attribute; ``title`` for messages.
    - ``suffixes``: artifact file endings its runner opens (lower case; ``open_runner`` picks by them).
    - ``runner``: the Runner class in ``edgeseg/backends/<name>/runner.py``; ``builds``: the backend
      has ``build_<name>`` in ``edgeseg/backends/<name>/build.py`` (False: nothing to build, e.g.
      torch runs checkpoints). Both are imported on first use only.
    - ``sources``: file endings the build function takes; ``output``: its default output, in words.
    - ``artifact_noun``: what its artifact is called after ``title`` (default "model": "ONNX Runtime
      model"; "engine", "IR", "package", "program"); ``build``'s one-line help lists ``artifact_name``.
    - ``packages``: the pip distributions it needs; ``extra``: the pyproject extra that installs them
      (None: they are core dependencies); ``install``: one line saying how to get them.
    - ``options``: the build options it accepts (``Option`` records; shared ones come from ``_options``).
    - ``available()``: its library is installed here (cheap; never raises).
    - ``run_problem()``: why its artifacts cannot run here (macOS only, no GPU...), or None.
    - ``read_card(path)``: the model card of an artifact, without running it.
    - ``artifact_files(path)``: the model files of an artifact (xml + bin; an .mlpackage folder ...);
      ``sidecar``: a ``<artifact>.card.json`` card is written beside them (``files`` lists both).
    - ``default_output(source)``: where ``build`` writes when no ``-o`` is given.
    - ``doctor_rows(versions, machine)``: its rows in ``edgeseg doctor`` (the first named ``name`` or
      ``name-<device>``), each with ``backend``, ``can_build``, ``can_run``, ``version``, ``reason``.
    - ``label``: the backend in a report's words (default: ``title``); ``short``: in a chart label
      (default: ``title``).
    - ``calib_num``: frames its INT8 build calibrates on when ``--calib-num`` is not given (None: it
      does not calibrate).
    - ``metadata_only``: packages whose version ``doctor`` reads from package metadata (importing
      them is slow); the others are imported. ``doctor`` lists every spec's ``packages``.
    - ``require(package)``: import one of its packages, or MissingDependencyError naming the package,
      its extra and ``install``.
    """

    name: str
    title: str
    suffixes: tuple[str, ...]
    runner: str
    packages: tuple[str, ...]
    install: str
    available: Callable[[], bool]
    read_card: Callable[[Path], ModelCard]
    doctor_rows: Callable[..., list[dict[str, Any]]]
    extra: str | None = None
    builds: bool = False
    sources: tuple[str, ...] = (".onnx",)
    output: str = ""
    artifact_noun: str = "model"
    options: tuple[Option, ...] = ()
    note: str = ""
    examples: tuple[str, ...] = ()
    run_problem: Callable[[], str | None] = field(default=lambda: None)
    artifact_files: Callable[[Path], list[Path]] = field(default=_one_file)
    sidecar: bool = False
    default_output: Callable[[Path], Path] | None = None
    label: str = ""
    short: str = ""
    calib_num: int | None = None
    metadata_only: tuple[str, ...] = ()

    @property
    def report_label(self) -> str:
        """The backend in a report's words ("PyTorch eager", "ExecuTorch")."""
        return self.label or self.title

    @property
    def artifact_name(self) -> str:
        """Its artifact in words ("TensorRT engine", "ONNX Runtime model")."""
        return f"{self.title} {self.artifact_noun}"

    @property
    def chart_label(self) -> str:
        """The backend in a chart label ("PyTorch", "ORT")."""
        return self.short or self.title

    def libraries(self) -> dict[str, str]:
        """Reported name -> module to import, for each of its packages (``doctor``'s library list)."""
        return {p: p.replace("-", "_") for p in self.packages}

    def missing(self, package: str | None = None) -> Exception:
        """The MissingDependencyError for ``package`` (default: its first): its extra, else ``install``."""
        from edgeseg.errors import MissingDependencyError

        name = package or self.packages[0]
        if name not in self.packages:
            raise ValueError(f"backend {self.name!r} does not declare package {name!r}")
        return MissingDependencyError(name, self.extra, None if self.extra else self.install)

    def require(self, package: str | None = None) -> Any:
        """Import ``package`` (default: its first), or raise ``missing(package)``. Never installs anything."""
        err = self.missing(package)
        try:
            return importlib.import_module((package or self.packages[0]).replace("-", "_"))
        except ImportError as e:
            raise err from e

    @property
    def builder(self) -> str | None:
        """``"module:function"`` of the build function, or None when there is nothing to build."""
        return f"edgeseg.backends.{self.name}.build:build_{self.name}" if self.builds else None

    def runner_class(self) -> type:
        return resolve(f"edgeseg.backends.{self.name}.runner:{self.runner}")

    def build_function(self) -> Callable[..., Any]:
        if self.builder is None:
            raise ValueError(f"backend {self.name!r} has nothing to build")
        return resolve(self.builder)

    def params(self) -> tuple[str, ...]:
        """The build function keywords its options set."""
        return tuple(o.param for o in self.options)

    def files(self, path: Path) -> list[Path]:
        """Everything one artifact consists of: its model files and, if it has one, its sidecar card."""
        from edgeseg.card import sidecar_path

        return [*self.artifact_files(Path(path)), *([sidecar_path(path)] if self.sidecar else [])]

    def artifact_size(self, path: Path) -> int:
        """Bytes of the artifact's model files (folders summed; the sidecar card not counted)."""
        total = 0
        for f in self.artifact_files(Path(path)):
            if f.is_dir():
                total += sum(g.stat().st_size for g in f.rglob("*") if g.is_file())
            elif f.is_file():
                total += f.stat().st_size
        return total


def row(
    backend: str, can_build: bool | None, can_run: bool, reason: str, version: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One ``doctor`` backend row (``can_build`` None: nothing to build)."""
    return {
        "backend": backend,
        "can_build": can_build,
        "can_run": can_run,
        "version": version,
        "reason": reason,
        **extra,
    }


def usable(versions: dict[str, str | None], name: str) -> bool:
    """``library_versions()`` says ``name`` is installed and imports."""
    v = versions.get(name)
    return bool(v) and not str(v).startswith("broken")


def missing(versions: dict[str, str | None], name: str) -> str:
    """'X is not installed' or 'X is broken (why)'."""
    return f"{name} is broken ({versions[name]})" if versions.get(name) else f"{name} is not installed"


def library_row(
    backend: str,
    versions: dict[str, str | None],
    library: str,
    *,
    works: str,
    install: str,
    build_needs: tuple[str, ...] = (),
    runs_here: bool = True,
) -> dict[str, Any]:
    """The ``doctor`` row of a backend that is one library: ``works`` when it imports, else why not
    and ``install``; it builds when ``build_needs`` import too, runs when ``runs_here``."""
    have = usable(versions, library)
    reason = works if have else f"{missing(versions, library)}: {install}"
    can_build = have and all(usable(versions, n) for n in build_needs)
    return row(backend, can_build, have and runs_here, reason, versions.get(library))
