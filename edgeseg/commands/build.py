"""``edgeseg build MODEL`` — every flag, group, choice, the epilog and the one-line help come from the
backend specs."""

from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any
from edgeseg.commands._policy import Io

from edgeseg.commands._args import add_option


def build_help() -> str:
    """The one-line help, from the specs: 'build a deployable artifact (ONNX Runtime model, ..., ExecuTorch
    program) from an exported model or checkpoint'."""
    from edgeseg.backends import builders

    kinds = ", ".join(spec.artifact_name for spec in builders().values())
    return f"build a deployable artifact ({kinds}) from an exported model or checkpoint"


def __getattr__(name: str) -> str:
    """``HELP`` (the cli reads it) is ``build_help()`` when asked, so a backend in ``BACKENDS`` is in it."""
    if name == "HELP":
        return build_help()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _backend(args: argparse.Namespace) -> str:
    from edgeseg.backends import default_backend

    return args.backend or default_backend()


def _build_plan(args: argparse.Namespace) -> tuple:
    """(backend, precision written, output path) of this build."""
    from edgeseg.commands._outputs import artifact_precision, build_precision, default_build_output

    backend = _backend(args)
    precision = build_precision(
        backend=backend,
        fp16=bool(getattr(args, "fp16", False)),
        int8=bool(getattr(args, "int8", False)),
        source=artifact_precision(args.model),
    )
    return (
        backend,
        precision,
        Path(args.output or default_build_output(args.model, backend=backend, precision=precision)),
    )


def _precheck(args: argparse.Namespace) -> None:
    """Options the backend does not take (``--max-drop`` elsewhere says what to do instead), the
    ``--max-drop`` request, then a model file it does not build from: before any file is read."""
    from edgeseg.backends import BACKENDS
    from edgeseg.backends._mixed import check_build_request

    from edgeseg.commands._outputs import check_build_input

    from edgeseg.bench.cost_source import measure_for

    backend = _backend(args)
    values = {k: v for k, v in vars(args).items() if k != "force"}
    _given, mixed = check_build_request(backend, values, BACKENDS, measure_for=measure_for)
    check_build_input(args.model, backend=backend, checkpoint=mixed is not None)


IO = Io(
    inputs=("model", "calib", "val_data", "layer_cost"),
    precheck=_precheck,
    derived=lambda args: [("--output", _build_plan(args)[2])],
    precision=lambda args: {"--output": _build_plan(args)[1]},
    loose=("calib", "val_data", "layer_cost"),  # --layer-cost: flops|openvino|FILE.json
)


def _epilog() -> str:
    from edgeseg.backends import builders

    specs = builders()
    lines = ["backends and the options they take:"]
    for name, spec in specs.items():
        text = " ".join(o.flag for o in spec.options) + (f"   ({spec.note})" if spec.note else "")
        lines += textwrap.wrap(text, 100, initial_indent=f"  {name:<12} ", subsequent_indent=" " * 15)
    lines += ["", "examples:"]
    lines += [f"  {ex}" for spec in specs.values() for ex in spec.examples]
    return "\n".join(lines) + "\n"


def calib_defaults(specs: dict[str, Any]) -> str:
    """'256; executorch 100': the most common spec default, then the backends that differ."""
    counts = {n: s.calib_num for n, s in specs.items() if s.calib_num}
    if not counts:
        return "none"
    common = max(set(counts.values()), key=list(counts.values()).count)
    others = [f"{n} {v}" for n, v in counts.items() if v != common]
    return "; ".join([str(common), *others])


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends import builders
    from edgeseg.backends._options import options_table

    specs = builders()
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _epilog()
    by_source: dict[str, list[str]] = {}
    for name, spec in specs.items():
        by_source.setdefault(" / ".join("MODEL" + s for s in spec.sources), []).append(name)
    takes = " or ".join(f"{src} ({', '.join(names)})" for src, names in by_source.items())
    p.add_argument("model", help=f"the exported model: {takes}")
    p.add_argument(
        "--backend", choices=tuple(specs), default=None, help="default: tensorrt when TensorRT is installed"
    )
    outputs = ", ".join(spec.output for spec in specs.values())
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help=f"output path (default beside the input, named with the precision, e.g. MODEL.fp32.ort.onnx, "
        f"MODEL.int8.engine; forms: {outputs})",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output of another precision")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for opt, backends in options_table(specs).values():
        title = opt.group or ", ".join(backends)
        if title not in groups:
            groups[title] = p.add_argument_group(title)
        help_text = (
            opt.help
            if opt.group is None or len(backends) == len(specs)
            else f"{opt.help} [{', '.join(backends)}]"
        )
        if opt.param == "calib_num":  # the default each backend's spec states
            help_text = (
                f"frames to use, evenly spaced (default {calib_defaults(specs)}) [{', '.join(backends)}]"
            )
        add_option(groups[title], opt, help=help_text)


def run(args: argparse.Namespace) -> int:
    from edgeseg.backends import BACKENDS
    from edgeseg.backends._options import check_options
    from edgeseg.bench.cost_source import measure_for

    backend, _precision, output = _build_plan(
        args
    )  # the output policy (cli) has checked it: not an input, same precision or --force
    options = check_options(backend, {k: v for k, v in vars(args).items() if k != "force"}, BACKENDS)
    build = BACKENDS[backend].build_function()
    command = shlex.join(["edgeseg", "build", *sys.argv[2:]]) if sys.argv[1:2] == ["build"] else None
    measure = measure_for(options.get("layer_cost"))  # the function --layer-cost openvino needs
    more = {} if measure is None else {"layer_cost_measure": measure}
    result = build(args.model, output=str(output), command=command, **options, **more)
    print(result.summary())
    return 0
