"""Issue 32: bad option values generated from the parsers (``_gen_values.py``): every option refuses what
its declared Domain excludes (non-numbers, NaN, inf, out of range, blank paths and specs) and takes what
it includes; every option with choices refuses an unknown one.

A refusal is exit 2 with one stderr line ``edgeseg COMMAND: error: ...`` naming the option and no
traceback, from the parser: ``edgeseg.cli.main`` parses before the output policy or the command runs, so
nothing exists on disk yet.
"""

from __future__ import annotations

import contextlib
import io
import re


import _gen_cases as G
import _gen_values as V
from test_generated import fields, run_cases, violations  # noqa: F401 - fields: the module's fixture

MIXED_FLAGS = ("--max-drop", "--class-drop", "--sensitivity-frames")


def _names_the_option(line: str, flag: str, parser) -> bool:
    action = parser._option_string_actions[flag]
    return any(re.search(rf"(^|[\s/(]){re.escape(s)}\b", line) for s in action.option_strings)


def parse_verdict(case: dict, parser) -> str | None:
    """What is wrong with how ``parser`` treats the case's value (None: nothing)."""
    argv = V.parse_argv(case, parser)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv[1:])
            code = None
        except SystemExit as e:
            code = e.code
        except Exception as e:  # noqa: BLE001 - a check that raised instead of refusing
            return f"raised {type(e).__name__}: {e}"
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    if case["expect"] == "take":
        return None if code is None else f"a value its Domain accepts was refused: {lines[-1:]}"
    if code is None:
        return "accepted"
    if code != 2:
        return f"exit code {code}"
    if len(lines) != 1 or not lines[0].startswith(f"edgeseg {case['command']}: error:"):
        return f"not one error line: {lines}"
    if not _names_the_option(lines[0], case["flag"], parser):
        return f"the error does not name {case['flag']}: {lines[0]}"
    return None


def test_every_option_refuses_what_its_domain_excludes_at_parse_time():
    cases = V.generate()
    parsers = V.subparsers()
    bad = [f"{c['id']} ({c['expect']}): {v}" for c in cases if (v := parse_verdict(c, parsers[c["command"]]))]
    refused = sum(c["expect"] == "refuse" for c in cases)
    print(f"generated value cases: {refused} refused, {len(cases) - refused} taken, {len(bad)} wrong")
    assert not bad, "\n".join(bad)


def test_the_mixed_precision_budget_options_are_reached_on_quantize_and_build():
    """--max-drop, --class-drop, --sensitivity-frames: NaN, inf, 0, -1, text and empty refused on both;
    a blank --layer-cost, --val-data and --calib (both)."""
    ids = {c["id"] for c in V.generate() if c["expect"] == "refuse"}
    for command in ("quantize", "build"):
        for flag in MIXED_FLAGS:
            for value in ("abc", "nan", "inf", "-1", "0", ""):
                assert f"{command}:{flag}={value!r}" in ids, (command, flag, value)
    for command in ("quantize", "build"):
        assert {f"{command}:--val-data=''", f"{command}:--calib=''", f"{command}:--layer-cost=''"} <= ids


def test_every_option_declares_its_domain():
    """An option whose check declares no Domain (``edgeseg._validate``) is a gap, unless ``NO_DOMAIN`` says
    why; ``generate`` raises on one."""
    V.generate()
    parsers = V.subparsers()
    for command, flag in V.NO_DOMAIN:  # the allow-list holds only real options
        assert flag in parsers[command]._option_string_actions, (command, flag)


def test_a_loose_input_that_is_neither_a_spec_nor_a_path_is_refused_before_any_output(tmp_path, fields):  # noqa: F811
    """Each baseline's loose inputs (``Io.loose``: --calib, --val-data, --layer-cost, --data, --source)
    given ``no-such-spec``, run through the real CLI in a child: exit 2, one line naming the option or the
    value, nothing new on disk, every input unchanged."""
    f, others = fields
    cases = [G.materialize(c, root=tmp_path / "cases", fields=f, others=others) for c in V.loose_cases()]
    assert {
        "quantize:--layer-cost",
        "build+max-drop:--val-data",
        "build+max-drop:--calib",
        "build+max-drop:--layer-cost",
    } <= {c["id"].split("=")[0] for c in cases}
    results = run_cases(cases, tmp_path)
    report = []
    for case in cases:
        res = results.get(case["id"], {"rc": "never ran"})
        report += [f"{case['id']}: {v}" for v in violations(case, res)]
        last = [ln for ln in res.get("stderr", "").splitlines() if ln.strip()][-1:]
        if res["rc"] != 2:
            report.append(f"{case['id']}: not refused (exit {res['rc']})")
        elif not (last and (case["flag"] in last[0] or V.LOOSE_VALUE in last[0])):
            report.append(f"{case['id']}: the error names neither {case['flag']} nor the value: {last}")
    print(f"generated loose-input cases: {len(cases)} run, {len(report)} wrong")
    assert not report, "\n".join(report)
