"""Generated bad option values (issue 32): every value-taking option of every command x the values it must
refuse, derived from the parsers, not listed by hand.

- an option's check declares what it accepts (``edgeseg._validate.Domain``, its ``domain`` attribute:
  whole/finite number/size with bounds, or non-blank text, the check ``edgeseg.cli`` gives every untyped
  option: a path, a data spec, ``--layer-cost flops|openvino|FILE``); the generator offers a number
  option ``NUMBER_VALUES`` and the value just past its upper bound and a text option blanks, and splits
  them by the declaration into values it must refuse (one-line argparse error naming the option, exit 2,
  before any work) and values it must take (0 for ``--seed``, 1 for ``--alpha``): the check is held to
  its declaration, not to its own behaviour;
- an option with ``choices`` must refuse an unknown choice and the empty string;
- an input the command validates itself (``Io.loose``) set to ``LOOSE_VALUE`` in a baseline must be
  refused by the command, in one line, before any output (``loose_cases``: run through the real CLI).
"""

from __future__ import annotations

import argparse
import re

#: The bad values offered to every typed option (which of them its Domain accepts decides the verdict).
NUMBER_VALUES = ("abc", "nan", "inf", "-1", "0", "")
UNKNOWN_CHOICE = "no-such-choice"
TEXT_VALUES = ("", " ")
#: Options whose type declares no Domain, with the reason (they get no generated values).
NO_DOMAIN = {
    ("bench", "--option"): "KEY=VALUE text (a build option for the matrix), checked by its own parser",
    ("bench", "--var"): "KEY=VALUE text (a matrix variable), checked by its own parser",
    ("report", "--title"): "any text: a report without a title is a report",
}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """Command -> its parser, as ``edgeseg.cli`` builds them (thread bounds and all)."""
    from edgeseg.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def value_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options that take a value (deprecated aliases included: they are accepted spellings)."""
    return [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.dest != "help"]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def domain_values(domain) -> tuple[list[str], list[str]]:
    """(values ``domain`` must refuse, values it must take) among ``NUMBER_VALUES`` and, when it declares
    an upper bound, the bound (taken) and the next number past it (refused)."""
    offered = list(NUMBER_VALUES)
    if domain.hi is not None:
        if domain.kind == "float":
            offered += [repr(float(domain.hi)), repr(domain.hi + max(1.0, abs(domain.hi)))]
        else:
            offered += [str(int(domain.hi)), str(int(domain.hi) + 1)]
    bad, good = [], []
    for text in offered:
        v = _number(text)
        ok = v is not None and text.strip().lower() not in ("nan", "inf") and domain.holds(v)
        if ok and domain.kind != "float" and not re.fullmatch(r"-?\d+", text):
            ok = False  # "1e3" is a float's spelling, not a whole number's
        (good if ok else bad).append(text)
    return bad, good


def generate() -> list[dict]:
    """Every (command, option, value) case, id "COMMAND:--FLAG='VALUE'"; ``expect`` "refuse" or "take"."""
    from _gen_cases import BASELINES, command_of

    baselines = {}
    for key in BASELINES:
        baselines.setdefault(command_of(key), key)
    cases = []
    for command, parser in subparsers().items():
        for action in value_options(parser):
            flag = max(action.option_strings, key=len)
            domain = getattr(action.type, "domain", None)
            values: list[tuple[str, str]] = []
            if action.choices is not None:
                values += [(v, "refuse") for v in (UNKNOWN_CHOICE, "") if v not in action.choices]
            elif domain is not None and domain.kind == "text":
                values += [(v, "refuse") for v in TEXT_VALUES]
            elif domain is not None:
                bad, good = domain_values(domain)
                values += [(v, "refuse") for v in bad] + [(v, "take") for v in good]
            elif (command, flag) not in NO_DOMAIN:
                raise ValueError(f"{command} {flag}: its type declares no Domain (edgeseg._validate)")
            for value, expect in values:
                cases.append(
                    {
                        "id": f"{command}:{flag}={value!r}",
                        "command": command,
                        "flag": flag,
                        "nargs": action.nargs,
                        "baseline": baselines.get(command),
                        "value": value,
                        "expect": expect,
                    }
                )
    return cases


def with_value(argv: list[str], case: dict) -> list[str]:
    """``argv`` with the case's option set to its value: replaced where the argv gives the option, else
    appended (``nargs`` 2: the value twice)."""
    n = case["nargs"] if isinstance(case["nargs"], int) else 1
    argv = list(argv)
    if case["flag"] in argv:
        i = argv.index(case["flag"])
        argv[i + 1 : i + 1 + n] = [case["value"]] * n
    else:
        argv += [case["flag"], *[case["value"]] * n]
    return argv


def parse_argv(case: dict, parser: argparse.ArgumentParser) -> list[str]:
    """A parseable argv for the case: the command's baseline with its {fields} as placeholders, or the
    command and a placeholder per required positional."""
    from _gen_cases import BASELINES

    if case["baseline"] is not None:
        argv = [re.sub(r"\{[^}]*\}", "X", a) for a in BASELINES[case["baseline"]]]
    else:
        need = [a for a in parser._actions if not a.option_strings and a.nargs not in ("?", "*")]
        argv = [case["command"], *["X" for _ in need]]
    return with_value(argv, case)


#: A value of a loose input (a data spec, a calibration list or folder, ``--layer-cost``, a camera
#: source: ``Io.loose``, validated by the command itself) that is neither a spec it knows nor a path.
LOOSE_VALUE = "no-such-spec"


def loose_cases() -> list[dict]:
    """Every baseline's loose inputs set to ``LOOSE_VALUE``, run through the real command: refused in one
    line before any output. Case id "KEY:--FLAG='no-such-spec'"; ``argv`` still has its {fields}."""
    import importlib

    from _gen_cases import BASELINES, command_of, dest_positions

    from edgeseg.cli import COMMANDS

    parsers = subparsers()
    cases = []
    for key, argv in BASELINES.items():
        command = command_of(key)
        pos = dest_positions(command, argv)
        flags = {a.dest: max(a.option_strings, key=len) for a in value_options(parsers[command])}
        for dest in importlib.import_module(COMMANDS[command]).IO.loose:
            if dest not in pos:
                continue
            bad = list(argv)
            bad[pos[dest]] = LOOSE_VALUE
            flag = flags.get(dest, dest)
            cases.append(
                {
                    "id": f"{key}:{flag}={LOOSE_VALUE!r}",
                    "command": command,
                    "baseline": key,
                    "argv": bad,
                    "flag": flag,
                    "side": "value",
                    "kind": "loose",
                }
            )
    return cases
