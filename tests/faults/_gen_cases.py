"""Generated fault cases (issue 28): every command x every kind of bad argument, derived from the CLI
itself, not listed by hand.

- the commands come from ``edgeseg.cli.COMMANDS``; what each reads and writes from its ``IO``
  declaration (``edgeseg/commands/_policy.py``), so a new command or option is covered as soon as
  it is declared;
- good baseline argvs, one or more per command (``BASELINES``: "build" and "build+max-drop" reach
  different paths of one command), are the only hand-written part: the generator runs each as it is
  (it must succeed) and swaps one input or one output at a time for a bad kind (``INPUT_KINDS``,
  ``OUTPUT_KINDS``).

A case is a dict (JSON-safe) that ``_gen_child.py`` runs; the test checks the invariant on each.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from _plant import TRAIN_ARGS  # the tiny training of the fault tables

#: The accuracy budget of the --max-drop baselines (quantize and build): loose, so the tiny model meets it.
BUDGET = [
    "--max-drop",
    "50",
    "--class-drop",
    "100",
    "--sensitivity-frames",
    "2",
    "--drop-reference",
    "labels",
    "--budget-frames",
    "3",
]

#: Good argvs, one or more per command: a key is the command it runs (``argv[0]``), or the command, "+" and
#: what else that baseline reaches ("build+max-drop"); {NAME} fields are filled from the artifacts and the
#: case's own folder.
BASELINES: dict[str, list[str]] = {
    "train": [
        "train",
        *TRAIN_ARGS,
        "--epochs",
        "1",
        "--resume",
        "{last}",
        "--out",
        "{run}",
    ],
    "eval": [
        "eval",
        "{ckpt}",
        "--data",
        "camvid:{camvid}",
        "--no-progress",
        "--max-frames",
        "1",
        "--json",
        "{case}/m.json",
    ],
    "predict": ["predict", "{ckpt}", "{image}", "-o", "{case}/pred"],
    "export": ["export", "{ckpt}", "-o", "{case}/m.onnx"],
    "quantize": [
        "quantize",
        "{ckpt}",
        "--method",
        "ptq",
        "--calib",
        "synthetic:2",
        "--calib-num",
        "2",
        "--val-data",
        "synthetic:2",
        *BUDGET,
        "--layer-cost",
        "{layer_cost}",
        "--no-progress",
        "-o",
        "{case}/q.onnx",
    ],
    "check-qdq": ["check-qdq", "{onnx}"],
    "build": ["build", "{onnx}", "--backend", "onnxruntime", "--threads", "1", "-o", "{case}/b.ort.onnx"],
    # the mixed-precision path of build (issue 32): the search of quantize --max-drop inside the build
    "build+max-drop": [
        "build",
        "{ckpt}",
        "--backend",
        "onnxruntime",
        "--int8",
        "--calib",
        "synthetic:2",
        "--calib-num",
        "2",
        *BUDGET,
        "--val-data",
        "synthetic:2",
        "--layer-cost",
        "{layer_cost}",
        "--prefer-cheap",
        "--threads",
        "1",
        "-o",
        "{case}/b.int8.ort.onnx",
    ],
    "profile": [
        "profile",
        "{onnx}",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
        "{case}/p.json",
    ],
    "report": ["report", "{results}", "-o", "{case}/rep"],
    "camera": [
        "camera",
        "{ckpt}",
        "--source",
        "{video}",
        "--headless",
        "--max-frames",
        "2",
        "--threads",
        "1",
        "--record",
        "{case}/rec.avi",
        "--stats",
        "{case}/s.json",
        "--save-masks",
        "{case}/masks",
    ],
}

#: Kinds of bad input file. Each writes the bad file at ``dst`` (named like the good one) and says
#: whether a good command may still succeed on it (a good file under an odd name).
INPUT_KINDS = (
    "missing",
    "directory",
    "zero-byte",
    "random-bytes",
    "truncated",
    "another-kind",
    "non-utf8-name",
)
#: Kinds of bad output path.
OUTPUT_KINDS = ("is-an-input", "hard-link-to-an-input", "existing-folder-for-a-file", "folder-missing")


def _positional_inputs(command: str) -> list[str]:
    """The inputs the generator swaps: the command's declared input dests that its baseline fills with a
    file."""
    from edgeseg.cli import COMMANDS
    import importlib

    io = importlib.import_module(COMMANDS[command]).IO
    return list(io.inputs)


def dest_positions(command: str, argv: list[str]) -> dict[str, int]:
    """argv index of the value of each declared input/output dest that the baseline sets."""
    import argparse
    import importlib

    from edgeseg.cli import COMMANDS

    mod = importlib.import_module(COMMANDS[command])
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    io = mod.IO
    wanted = set(io.inputs) | set(io.files) | set(io.folders) | ({io.run_folder} if io.run_folder else set())
    pos: dict[str, int] = {}
    positionals = [a for a in p._actions if not a.option_strings]
    flags = {s: a for a in p._actions for s in a.option_strings}
    i, k = 1, 0
    while i < len(argv):
        tok = argv[i]
        if tok in flags:
            action = flags[tok]
            takes = action.nargs != 0
            if takes and action.dest in wanted:
                pos[action.dest] = i + 1
            i += 2 if takes else 1
            continue
        if k < len(positionals):
            dest = positionals[k].dest
            if dest in wanted and dest not in pos:
                pos[dest] = i
            if positionals[k].nargs not in ("+", "*"):
                k += 1
        i += 1
    return pos


def command_of(key: str) -> str:
    """The command a ``BASELINES`` key runs: "build" for "build" and "build+max-drop"."""
    return key.split("+", 1)[0]


def generate(*, full: bool) -> list[dict]:
    """Every (baseline, dest, kind) case, and each baseline once as it is (side "baseline": it must
    succeed, or every refusal of its cases could be for another reason); ``full`` False keeps each input
    kind once per baseline and every output kind on every output (the CI set), True crosses every kind
    with every input. A case id is "KEY:DEST:KIND" ("build+max-drop:model:zero-byte")."""
    import importlib

    from edgeseg.cli import COMMANDS

    cases = []
    for key, argv in BASELINES.items():
        command = command_of(key)
        if argv[0] != command:
            raise ValueError(f"BASELINES[{key!r}] runs {argv[0]!r}, not {command!r}")
        io = importlib.import_module(COMMANDS[command]).IO
        pos = dest_positions(command, argv)
        file_inputs = [d for d in io.inputs if d in pos and "{" in argv[pos[d]] and ":" not in argv[pos[d]]]
        base = {"baseline": key, "command": command, "argv": argv}
        cases.append({**base, "id": f"{key}:baseline:good", "side": "baseline", "kind": "good"})
        for n, kind in enumerate(INPUT_KINDS):
            targets = file_inputs if full else file_inputs[n % max(1, len(file_inputs)) :][:1]
            for dest in targets:
                cases.append(
                    {
                        **base,
                        "id": f"{key}:{dest}:{kind}",
                        "side": "input",
                        "dest": dest,
                        "index": pos[dest],
                        "kind": kind,
                    }
                )
        outputs = [
            d for d in (*io.files, *io.folders, *((io.run_folder,) if io.run_folder else ())) if d in pos
        ]
        for dest in outputs:
            for kind in OUTPUT_KINDS:
                if kind == "existing-folder-for-a-file" and dest not in io.files:
                    continue
                cases.append(
                    {
                        **base,
                        "id": f"{key}:{dest}:{kind}",
                        "side": "output",
                        "dest": dest,
                        "index": pos[dest],
                        "kind": kind,
                        "first_input": file_inputs[0] if file_inputs else None,
                        "input_index": pos[file_inputs[0]] if file_inputs else None,
                    }
                )
    ids = [c["id"] for c in cases]
    if len(ids) != len(set(ids)):
        raise ValueError(f"generated case ids are not unique: {sorted({i for i in ids if ids.count(i) > 1})}")
    return cases


def _fill(argv: list[str], fields: dict[str, str]) -> list[str]:
    return [a.format(**fields) for a in argv]


def _bad_input(kind: str, good: Path, case: Path, others: dict[str, Path]) -> Path | None:
    """Write the bad input of ``kind`` beside the case (never touching ``good``); None: leave it missing."""
    name = good.name
    dst = case / "in" / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    if kind == "missing":
        return case / "in" / ("absent_" + name)
    if kind == "directory":
        dst.mkdir()
        return dst
    if kind == "zero-byte":
        dst.write_bytes(b"")
    elif kind == "random-bytes":
        dst.write_bytes(os.urandom(100_000) if good.is_file() else b"\x00" * 10)
    elif kind == "truncated":
        data = good.read_bytes() if good.is_file() else b""
        dst.write_bytes(data[: len(data) // 2])
    elif (
        kind == "another-kind"
    ):  # a real file of another kind under this name: the results JSON (a PNG for .json)
        src = others["results"] if good.suffix.lower() != ".json" else others["image"]
        shutil.copyfile(src, dst)
    elif kind == "non-utf8-name":
        raw = os.fsencode(case / "in") + b"/bad\xff" + os.fsencode(name)
        with open(raw, "wb") as f:
            f.write(good.read_bytes() if good.is_file() else b"")
        return Path(os.fsdecode(raw))
    return dst


def materialize(case: dict, *, root: Path, fields: dict[str, str], others: dict[str, Path]) -> dict:
    """Write the case's files under ``root`` and return it with its final argv, the paths whose bytes
    must not change (``inputs``) and the outputs that must not appear when it fails (``outputs``)."""
    case_dir = root / re.sub(r"[^\w.+=-]", "_", case["id"])
    case_dir.mkdir(parents=True)
    f = {**fields, "case": str(case_dir), "run": str(case_dir / "run")}
    argv = _fill(case["argv"], f)
    if case["side"] in ("baseline", "value"):  # as it is (a value case: its argv has the value)
        pass
    elif case["side"] == "input":
        good = Path(argv[case["index"]])
        bad = _bad_input(case["kind"], good, case_dir, others)
        argv[case["index"]] = str(bad)
    else:
        target = None
        if case["kind"] in ("is-an-input", "hard-link-to-an-input") and case["input_index"] is not None:
            src = Path(argv[case["input_index"]])
            local = case_dir / ("input" + src.suffix)
            shutil.copyfile(src, local)
            argv[case["input_index"]] = str(local)
            if case["kind"] == "is-an-input":
                target = local
            else:
                target = case_dir / ("link" + src.suffix)
                os.link(local, target)
        elif case["kind"] == "existing-folder-for-a-file":
            target = case_dir / "a_folder"
            target.mkdir()
        elif case["kind"] == "folder-missing":
            target = case_dir / "no" / "such" / "folder" / Path(argv[case["index"]]).name
        if target is None:
            return {**case, "skip": "no file input to collide with"}
        argv[case["index"]] = str(target)
    inputs = {}
    for a in argv[1:]:
        p = Path(a)
        try:
            if p.is_file() and not p.is_relative_to(case_dir / "out"):
                inputs[a] = hashlib.sha256(p.read_bytes()).hexdigest()
        except (OSError, ValueError):
            pass
    return {**case, "argv": argv, "inputs": inputs, "dir": str(case_dir)}
