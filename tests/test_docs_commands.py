"""Every `edgeseg ...` command in the README and docs/ parses with the CLI's own argparse, and the repository
files it names (calib/, benchmarks/, edgeseg/weights/, docs/, scripts/) exist or are written by an earlier
command of the same page. Running them all would take hours and devices; parsing catches renamed flags,
wrong choices and missing files, the ways a copied command fails first."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPO_PATH = re.compile(r"^(?:\.\./)?(calib|benchmarks|edgeseg/weights|docs|scripts)/\S+$")
OUTPUT_FLAGS = ("-o", "--output", "--out", "--save-checkpoint", "--json")


def commands(page: Path) -> list[str]:
    """The `edgeseg` command lines of a page's shell blocks (continuations joined, comments dropped);
    output lines (`edgeseg build: error: ...`) and synopses with [optional] parts are not commands."""
    out = []
    for block in re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", page.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if not line.startswith("edgeseg ") or re.match(r"edgeseg [\w-]+:", line) or " [" in line:
                continue
            out.append(re.split(r"\s+#|\s*(?:\||&&|;)\s*", line)[0].strip())
    return out


@functools.lru_cache(maxsize=1)
def _parser():
    from edgeseg.cli import build_parser

    return build_parser()


def parse(argv: list[str]) -> str:
    """'' when the CLI's parser takes ``argv``, else argparse's last line."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            _parser().parse_args(argv)
    except SystemExit as e:
        return (err.getvalue().strip().splitlines() or [f"exit {e.code}"])[-1] if e.code else ""
    return ""


def test_the_pages_hold_commands():
    assert sum(len(commands(p)) for p in PAGES) > 50


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_parses_and_names_files_that_exist(page):
    problems, written = [], set()
    for line in commands(page):
        argv = shlex.split(line)[1:]
        why = parse(argv)
        if why:
            problems.append(f"{line}\n    {why}")
        for flag, value in zip(argv, argv[1:]):
            if flag in OUTPUT_FLAGS:
                written.add(value)
        for tok in argv:
            tok = tok.split("=", 1)[-1]
            if (
                REPO_PATH.match(tok)
                and tok not in written
                and not any(tok.startswith(w.rstrip("/") + "/") for w in written)
            ):
                if not ((ROOT / tok).exists() or (ROOT / "benchmarks" / tok).exists()):
                    problems.append(
                        f"{line}\n    {tok}: no such file in the repository, and no earlier command writes it"
                    )
    assert not problems, f"{page.name}:\n" + "\n".join(problems)


def test_a_planted_bad_flag_and_a_missing_file_are_caught(tmp_path):
    page = tmp_path / "x.md"
    page.write_text(
        "```bash\nedgeseg build m.onnx --int9\nedgeseg build m.onnx --int8 --calib calib/nope.txt\n```\n"
    )
    [bad_flag, missing] = commands(page)
    assert "unrecognized arguments: --int9" in parse(shlex.split(bad_flag)[1:])
    assert parse(shlex.split(missing)[1:]) == "" and not (ROOT / "calib/nope.txt").exists()
