"""Benchmark matrices: which artifacts to run, with which runner options, sizes and batches.

A matrix is a small YAML file (see benchmarks/cgnet_cpu.yaml and docs/benchmarks.md)::

    name: cgnet_cpu
    data: camvid:/path/to/camvid      # optional: mIoU on its val split
    defaults: {size: 360x480, batch: [1], threads: 2, warmup: 10, runs: 50, profile: 20}
    rows:
      - id: torch-fp32
        artifact: ../edgeseg/weights/cgnet_camvid.pt
      - id: ort-fp32
        artifact: build/cgnet_fp32.onnx
        make: [[export, ../edgeseg/weights/cgnet_camvid.pt, -o, "{artifact}"]]

Relative artifact and ``output`` paths resolve against the matrix file's folder, and ``make``
steps run in that folder. ``vars: {camvid: /data/camvid}`` defines ``{camvid}`` placeholders
(override with ``edgeseg bench M.yaml --var camvid=/other/path``). Unknown keys are errors, so
a typo cannot silently drop a setting.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

from edgeseg._validate import parse_size as _parse_size
from edgeseg.errors import EdgesegError

#: Settings a row inherits from ``defaults`` (and the CLI) unless it sets its own.
ROW_SETTINGS = ("size", "batch", "threads", "warmup", "runs", "timeout", "max_miou_drop", "profile")
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class RowSpec:
    """One benchmark row. Defaults: size None (the card's input size), batch (1,), threads None
    (the runner's default), warmup 10, runs 50, timeout 1800 s, no build steps, no accuracy gate, profile 0
    (profiled runs for the row's time by kind of work, ``bench.time_split``; 0: none)."""

    id: str
    artifact: str
    model: str | None = None  # label in tables; default: the card's arch
    options: dict[str, Any] = field(default_factory=dict)  # passed to open_runner
    size: tuple[int, int] | None = None
    batch: tuple[int, ...] = (1,)
    threads: int | None = None
    warmup: int = 10
    runs: int = 50
    timeout: float = DEFAULT_TIMEOUT_S
    make: tuple[tuple[str, ...], ...] = ()  # edgeseg CLI steps that produce the artifact
    reference: str | None = None  # row id whose mIoU this row is checked against
    max_miou_drop: float | None = None  # mIoU points this row may lose vs ``reference``
    profile: int = 0  # profiled runs after the latency (OpenVINO IR / ONNX / ExecuTorch only), 0: none

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size) if self.size else None
        d["batch"] = list(self.batch)
        d["make"] = [list(s) for s in self.make]
        return d


@dataclass(frozen=True)
class Matrix:
    """A named list of rows plus the dataset for mIoU (``data``, None: latency only)."""

    name: str
    rows: tuple[RowSpec, ...]
    data: str | None = None
    max_frames: int | None = None
    output: str | None = None
    description: str = ""
    peak: dict[str, Any] = field(
        default_factory=dict
    )  # measure_peak options (matmul_n, copy_mb, stream_mb, repeats)
    workdir: str = "."  # the folder ``make`` steps run in: the matrix file's folder
    rounds: int = 1  # latency passes over all rows (see harness.run_matrix)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workdir": self.workdir,
            "description": self.description,
            "data": self.data,
            "max_frames": self.max_frames,
            "output": self.output,
            "peak": dict(self.peak),
            "rounds": self.rounds,
            "rows": [r.to_dict() for r in self.rows],
        }


def parse_size(value: Any, where: str) -> tuple[int, int] | None:
    """'360x480', [360, 480] or 360 -> (H, W) (``edgeseg._validate.parse_size``); None stays None."""
    return None if value is None else _parse_size(value, where=where)


def _int(value: Any, where: str, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EdgesegError(f"{where}: {name} must be an integer >= {minimum}, found {value!r}")
    return value


def _row(d: Any, defaults: dict[str, Any], base: Path | None, where: str, reference: str | None) -> RowSpec:
    if not isinstance(d, dict):
        raise EdgesegError(f"{where}: expected a mapping with 'id' and 'artifact', found {d!r}")
    known = {f.name for f in fields(RowSpec)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise EdgesegError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(sorted(known))}")
    if "artifact" not in d:
        raise EdgesegError(f"{where}: missing 'artifact'")
    merged = {**defaults, **d}
    where = f"{where} ({merged.get('id') or merged['artifact']})"
    artifact = str(merged["artifact"])
    if base is not None and not os.path.isabs(artifact):
        artifact = os.path.normpath(base / artifact)
    rid = str(merged.get("id") or Path(artifact).name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", rid):
        raise EdgesegError(f"{where}: id {rid!r} must be letters, digits and ._+- only")
    batch = merged.get("batch", (1,))
    batch = [batch] if isinstance(batch, int) else list(batch)
    batch = tuple(_int(b, where, "batch", minimum=1) for b in batch)
    if not batch or len(set(batch)) != len(batch):
        raise EdgesegError(f"{where}: batch must be a non-empty list of distinct sizes, found {list(batch)}")
    options = merged.get("options") or {}
    if not isinstance(options, dict):
        raise EdgesegError(f"{where}: options must be a mapping of runner options, found {options!r}")
    make = merged.get("make") or ()
    if make and isinstance(make[0], str):
        make = [make]  # a single step
    try:
        make = tuple(tuple(str(a) for a in step) for step in make)
    except TypeError:
        raise EdgesegError(
            f"{where}: make must be a list of edgeseg command lines (lists of words)"
        ) from None
    threads = merged.get("threads")
    drop = merged.get("max_miou_drop")
    return RowSpec(
        id=rid,
        artifact=artifact,
        model=merged.get("model"),
        options=dict(options),
        size=parse_size(merged.get("size"), where),
        batch=batch,
        threads=None if threads is None else _int(threads, where, "threads", minimum=1),
        warmup=_int(merged.get("warmup", 10), where, "warmup", minimum=0),
        runs=_int(merged.get("runs", 50), where, "runs", minimum=1),
        timeout=float(merged.get("timeout", DEFAULT_TIMEOUT_S)),
        make=make,
        reference=merged.get("reference", reference),
        max_miou_drop=None if drop is None else float(drop),
        profile=_int(merged.get("profile", 0), where, "profile", minimum=0),
    )


def _substitute(obj: Any, variables: dict[str, str]) -> Any:
    """Replace ``{name}`` for every name in ``variables`` inside strings (others, like ``{artifact}``,
    stay)."""
    if isinstance(obj, str):
        for k, v in variables.items():
            obj = obj.replace("{" + k + "}", str(v))
        return obj
    if isinstance(obj, list):
        return [_substitute(v, variables) for v in obj]
    if isinstance(obj, dict):
        return {k: _substitute(v, variables) for k, v in obj.items()}
    return obj


def matrix_from_dict(
    d: Any,
    *,
    base: str | os.PathLike | None = None,
    where: str = "matrix",
    variables: dict[str, str] | None = None,
) -> Matrix:
    """Validate and expand a matrix mapping; relative artifact paths are joined to ``base``.

    ``{name}`` placeholders in ``data``, ``output``, artifacts and ``make`` steps are filled from the
    matrix's ``vars`` mapping, overridden by ``variables`` (the CLI's ``--var name=value``)."""
    if not isinstance(d, dict):
        raise EdgesegError(f"{where}: expected a mapping with 'rows', found {type(d).__name__}")
    allowed = {
        "name",
        "description",
        "data",
        "max_frames",
        "output",
        "defaults",
        "rows",
        "peak",
        "reference",
        "vars",
        "workdir",
        "rounds",
    }
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise EdgesegError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
    own_vars = d.get("vars") or {}
    if not isinstance(own_vars, dict):
        raise EdgesegError(f"{where}: vars must be a mapping of name: value")
    unknown_vars = sorted(set(variables or {}) - set(own_vars))
    if unknown_vars:
        raise EdgesegError(
            f"{where}: --var {unknown_vars} not among the matrix's vars "
            f"({', '.join(sorted(own_vars)) or 'none'})"
        )
    values = {str(k): str(v) for k, v in {**own_vars, **(variables or {})}.items()}
    d = {k: (v if k in ("vars", "name", "description") else _substitute(v, values)) for k, v in d.items()}
    if base is not None and isinstance(d.get("data"), str):
        d["data"] = _data_beside(d["data"], Path(base))
    defaults = d.get("defaults") or {}
    bad = sorted(set(defaults) - set(ROW_SETTINGS) - {"options", "model"})
    if bad:
        raise EdgesegError(
            f"{where}: defaults may set {', '.join(ROW_SETTINGS)}, options, model; found {bad}"
        )
    rows_in = d.get("rows")
    if not isinstance(rows_in, list) or not rows_in:
        raise EdgesegError(f"{where}: 'rows' must be a non-empty list")
    b = Path(base) if base is not None else None
    rows = tuple(
        _row(r, defaults, b, f"{where}: rows[{i}]", d.get("reference")) for i, r in enumerate(rows_in)
    )
    ids = [r.id for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise EdgesegError(f"{where}: duplicate row id(s) {dup}; give each row its own 'id'")
    for r in rows:
        if r.reference is not None and r.reference not in ids:
            raise EdgesegError(
                f"{where}: row {r.id!r} refers to reference row {r.reference!r}, which is not in the matrix"
            )
    output = d.get("output")
    if output and b is not None and not os.path.isabs(output):
        output = os.path.normpath(b / output)
    mf = d.get("max_frames")
    return Matrix(
        name=str(d.get("name") or "bench"),
        description=str(d.get("description") or ""),
        rows=rows,
        data=d.get("data"),
        max_frames=None if mf is None else _int(mf, where, "max_frames", minimum=1),
        output=output,
        peak=dict(d.get("peak") or {}),
        workdir=str(d.get("workdir") or (os.path.normpath(b) if b is not None else ".")),
        rounds=_int(d.get("rounds", 1), where, "rounds", minimum=1),
    )


def _data_beside(spec: str, base: Path) -> str:
    """A dataset spec whose relative PATH (``camvid:../../data``) is taken from the matrix's folder, as the
    make steps (which run there) take it; absolute paths and ``synthetic[:N]`` are left as they are."""
    kind, sep, path = spec.partition(":")
    if not sep or kind == "synthetic" or not path or os.path.isabs(os.path.expanduser(path)):
        return spec
    return f"{kind}:{os.path.normpath(base.resolve() / path)}"


def load_matrix(path: str | os.PathLike, *, variables: dict[str, str] | None = None) -> Matrix:
    """Read a matrix YAML file (relative paths resolve against its folder; ``variables`` override its
    ``vars``)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise EdgesegError(f"{p}: benchmark matrix not found")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise EdgesegError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from e
    return matrix_from_dict(d, base=p.parent, where=str(p), variables=variables)


def dump_matrix(matrix: Matrix) -> str:
    """The matrix as YAML (fully expanded: every row lists all its settings)."""
    import yaml

    return yaml.safe_dump(matrix.to_dict(), sort_keys=False)


def matrix_from_artifacts(
    artifacts: Sequence[str],
    *,
    size: tuple[int, int] | None = None,
    batch: Sequence[int] = (1,),
    threads: int | None = None,
    warmup: int = 10,
    runs: int = 50,
    timeout: float = DEFAULT_TIMEOUT_S,
    profile: int = 0,
    options: dict[str, Any] | None = None,
    data: str | None = None,
    max_frames: int | None = None,
    name: str = "bench",
) -> Matrix:
    """A matrix with one row per artifact (the CLI form ``edgeseg bench A.pt B.onnx ...``).

    ``options`` go to every runner; a key written ``EXT:KEY`` (e.g. ``pt:channels_last``) only to
    artifacts ending in ``.EXT``."""
    rows, seen = [], set()
    for a in artifacts:
        rid = re.sub(r"[^A-Za-z0-9_.+-]", "_", Path(a).name) or "row"
        k = 2
        base_id = rid
        while rid in seen:
            rid = f"{base_id}-{k}"
            k += 1
        seen.add(rid)
        rows.append(
            {
                "id": rid,
                "artifact": str(a),
                "options": _options_for(a, options or {}),
                "size": size,
                "batch": list(batch),
                "threads": threads,
                "warmup": warmup,
                "runs": runs,
                "timeout": timeout,
                "profile": profile,
            }
        )
    return matrix_from_dict(
        {"name": name, "data": data, "max_frames": max_frames, "rows": rows}, where="command line"
    )


def _options_for(artifact: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options whose key is ``KEY`` (every artifact) or ``EXT:KEY`` (only artifacts ending in .EXT)."""
    suffix = Path(artifact).suffix.lower().lstrip(".")
    out = {}
    for k, v in options.items():
        ext, sep, key = k.partition(":")
        if not sep:
            out[k] = v
        elif ext.lower().lstrip(".") == suffix:
            out[key] = v
    return out


def with_overrides(matrix: Matrix, **settings: Any) -> Matrix:
    """Apply CLI overrides (only the settings given, not None) to every row."""
    kw = {k: v for k, v in settings.items() if v is not None and k in ROW_SETTINGS}
    if "batch" in kw:
        kw["batch"] = tuple(kw["batch"])
    rows = tuple(replace(r, **kw) for r in matrix.rows) if kw else matrix.rows
    return replace(matrix, rows=rows)
