"""Check every TensorRT use found by ``_trt_usage`` against each version's manifest, on the
versions where ``plan_build``'s plans can reach it."""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools

from _manifest import MODULE, ROOT, Manifest, manifests, params
from _trt_usage import Report, Use, short


@functools.lru_cache(maxsize=None)
def plan_module():
    """edgeseg's module defining ``plan_build`` (found by content: its path may move between backends)."""
    for p in sorted((ROOT / "edgeseg").rglob("*.py")):
        if "def plan_build(" in p.read_text():
            mod = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            return importlib.import_module(mod)
    raise AssertionError("no edgeseg module defines plan_build")


def plans(version: str) -> list:
    """Every BuildPlan plan_build gives on ``version`` over all request combinations."""
    pm = plan_module()
    out = []
    for qdq, fp16, int8, calib, dla in itertools.product((False, True), repeat=5):
        try:
            out.append(pm.plan_build(version, onnx_is_qdq=qdq, fp16=fp16, int8=int8, calib=calib, dla=dla))
        except Exception as e:  # noqa: BLE001 - a refused request reaches nothing
            if type(e).__name__ != "BuildError":
                raise
    assert out, f"plan_build refused every request on {version}"
    return out


def namespace(plan) -> dict:
    major, minor = plan_module().parse_version(plan.trt_version)
    return {
        "plan": plan,
        "major": major,
        "minor": minor,
        "calibrator": object() if plan.needs_calibrator else None,
    }


def guard_holds(expr: ast.expr, negated: bool, ns: dict) -> bool:
    """A guard's value under a plan; one that names anything else (a user option) may hold: True."""
    try:
        v = bool(eval(compile(ast.Expression(expr), "<guard>", "eval"), {}, dict(ns)))  # noqa: S307
    except Exception:  # noqa: BLE001
        return True
    return not v if negated else v


def reachable(report: Report, func: str, ns: dict, seen: frozenset = frozenset()) -> bool:
    if func.startswith("__") or func == "<module>":
        return True  # constructors etc. are called through their class name: assume reachable
    sites = [(caller, g) for caller, g in report.calls.get(func, []) if caller not in seen]
    if not sites:
        return True
    return any(
        all(guard_holds(e, n, ns) for e, n in g) and reachable(report, caller, ns, seen | {func})
        for caller, g in sites
    )


def reaching_plans(report: Report, use: Use, version: str) -> list:
    out = []
    for plan in plans(version):
        ns = namespace(plan)
        if all(guard_holds(e, n, ns) for e, n in use.guards) and reachable(
            report, (use.scope or (use.func,))[0], ns
        ):
            out.append(plan)
    return out


def problem(use: Use, m: Manifest, name: str | None = None) -> str | None:
    """Why ``use`` (with ``name`` for resolved dynamic names) fails on manifest ``m``; None when it
    conforms."""
    name = name or use.name
    where = f"{use.where} ({use.func})"
    if name == "?":
        return f"{where}: getattr on trt.{use.owner} with a name the checker cannot resolve"
    if use.owner != MODULE and not m.has_type(use.owner.split(":")[0]):
        return f"{where}: TensorRT {m.version} has no trt.{use.owner}"
    if use.kind == "kwarg":
        meth, kw = name.split(":")
        rec = m.member(use.owner, meth)
        if rec is None:
            return f"{where}: TensorRT {m.version} has no trt.{use.owner}.{meth}"
        if not any(kw in p for p in params(rec)):
            return f"{where}: trt.{use.owner}.{meth} on TensorRT {m.version} takes no keyword {kw!r}"
        return None
    rec = m.member(use.owner, name)
    label = "trt" if use.owner == MODULE else f"trt.{use.owner}"
    if rec is None:
        return f"{where}: TensorRT {m.version} has no {label}.{name}"
    if use.kind == "store" and not (rec.get("kind") == "property" and not rec.get("readonly")):
        return f"{where}: {label}.{name} is not a settable property on TensorRT {m.version}"
    return None


def check(report: Report) -> list[str]:
    """One line per (use, version) that does not conform, for uses reachable on that version."""
    problems = []
    for m in manifests():
        for use in report.uses:
            hits = reaching_plans(report, use, m.version)
            if not hits:
                continue
            if use.names_from is not None:
                names = set()
                for plan in hits:
                    try:
                        names |= {
                            str(n)
                            for n in eval(
                                compile(ast.Expression(use.names_from), "<it>", "eval"), {}, namespace(plan)
                            )
                        }  # noqa: S307
                    except Exception:  # noqa: BLE001
                        names.add("?")
                found = [problem(use, m, n) for n in sorted(names)]
            else:
                found = [problem(use, m)]
            problems += [p for p in found if p]
    return sorted(set(problems))


def describe(use: Use) -> str:
    g = " and ".join(("not " if n else "") + short(e) for e, n in use.guards)
    return f"{use.where} {use.label()}" + (f" if {g}" if g else "")
