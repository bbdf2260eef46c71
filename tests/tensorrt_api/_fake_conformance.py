"""Compare a FAKE tensorrt module (tests/fakes/fake_tensorrt.py) with NVIDIA's manifest for the
same version: every public name, enum member and value, parameter name, settable property and
declared return type the fake exposes must be real."""

from __future__ import annotations

import enum
import importlib.util
import inspect
import sys
import types
from typing import Any

from _manifest import MODULE, ROOT, Manifest, norm_type, params, returns

FAKES = ROOT / "tests" / "fakes"
#: Test-only module attributes of the fake (documented there): call log and marker.
FAKE_ONLY_MODULE_NAMES = {"CALLS", "FAKE"}
#: The real bindings declare these generically; the fake may return these concrete types.
RETURN_ALIASES = {
    "buffer": {"bytes", "memoryview", "IHostMemory", "buffer"},
    "typing_extensions.Buffer": {"bytes", "memoryview", "IHostMemory", "buffer"},
}


def load_fake(name: str) -> types.ModuleType:
    modname = f"edgeseg_tests_{name}"
    if modname not in sys.modules:
        spec = importlib.util.spec_from_file_location(modname, FAKES / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return sys.modules[modname]


def _is_fake_code(obj: Any) -> bool:
    return getattr(obj, "__module__", "").startswith("edgeseg_tests_fake_tensorrt")


def _is_absent(raw: Any) -> bool:
    return type(raw).__name__ == "Absent"


def _enum_problems(qual: str, cls: type, m: Manifest) -> list[str]:
    real = m.enum_members(qual)
    if real is None:
        return [f"fake enum trt.{qual} does not exist in TensorRT {m.version}"]
    out = []
    for name, member in cls.__members__.items():
        if name not in real:
            out.append(f"fake trt.{qual}.{name} does not exist in TensorRT {m.version}")
        elif int(member) != real[name]:
            out.append(f"fake trt.{qual}.{name} = {int(member)}, TensorRT {m.version} has {real[name]}")
    return out


def _ret_ok(fake_ann: str | None, real: list[str]) -> bool:
    f = norm_type(fake_ann)
    return any(f == r or f in RETURN_ALIASES.get(r, ()) for r in real)


def _member_problems(cname: str, name: str, raw: Any, rec: dict | None, m: Manifest) -> list[str]:
    label = f"fake trt.{cname}.{name}"
    if rec is None:
        return [f"{label} does not exist in TensorRT {m.version}"]
    kind = rec.get("kind")
    if isinstance(raw, property):
        if kind != "property":
            return [f"{label} is a property, TensorRT {m.version} has a {kind}"]
        if raw.fset is not None and rec.get("readonly"):
            return [f"{label} is settable, TensorRT {m.version} has it read-only"]
        ann = (raw.fget.__annotations__ or {}).get("return") if raw.fget else None
        if ann is not None and not _ret_ok(ann, returns(rec)):
            return [f"{label} is typed {ann}, TensorRT {m.version} returns {returns(rec)}"]
        return []
    if inspect.isfunction(raw):
        if kind != "method":
            return [f"{label} is a method, TensorRT {m.version} has a {kind}"]
        if name.startswith("__"):
            return []
        sig = [p for p in inspect.signature(raw).parameters if p != "self"]
        sig = [p for p in sig if not p.startswith("*")]
        if not any(real[: len(sig)] == sig for real in params(rec)):
            return [f"{label}({', '.join(sig)}): TensorRT {m.version} has {params(rec)}"]
        ann = raw.__annotations__.get("return")
        real = returns(rec)
        if ann is None:
            return [f"{label} declares no return type (TensorRT {m.version}: {real})"]
        if not _ret_ok(ann, real):
            return [f"{label} returns {ann}, TensorRT {m.version} returns {real}"]
        return []
    if kind in ("property", "attribute", "enum_member", "class", "enum"):
        return []
    return [f"{label} is a plain value, TensorRT {m.version} has a {kind}"]


def _class_problems(cname: str, cls: type, m: Manifest) -> list[str]:
    if not m.has_type(cname):
        return [f"fake class trt.{cname} does not exist in TensorRT {m.version}"]
    out, seen = [], set()
    for klass in cls.__mro__:
        if not _is_fake_code(klass) and klass.__name__ != cname:
            continue
        absent = set(getattr(cls, "__absent__", ()))  # base-class (ctypes) attributes the fake blocks
        for name, raw in vars(klass).items():
            if name in absent:
                continue
            if name in seen or (name.startswith("_") and name not in ("__init__",)) or _is_absent(raw):
                continue
            seen.add(name)
            if isinstance(raw, type) and issubclass(raw, enum.IntEnum):
                out += (
                    _enum_problems(f"{cname}.{name}", raw, m)
                    if m.enum_members(f"{cname}.{name}")
                    else [f"fake trt.{cname}.{name} does not exist in TensorRT {m.version}"]
                    if m.member(cname, name) is None
                    else []
                )
                continue
            out += _member_problems(cname, name, raw, m.member(cname, name), m)
    return out


def instance_problems(obj: Any, m: Manifest) -> list[str]:
    """Public attributes set on a live fake object (in __init__) must be real settable properties."""
    cname = type(obj).__name__
    out = []
    for name in vars(obj) if hasattr(obj, "__dict__") else ():
        if name.startswith("_"):
            continue
        rec = m.member(cname, name)
        if rec is None:
            out.append(f"fake trt.{cname} instance attribute {name} does not exist in TensorRT {m.version}")
        elif rec.get("kind") != "property" or rec.get("readonly"):
            out.append(
                f"fake trt.{cname}.{name} is a writable attribute, TensorRT {m.version} has it read-only"
            )
    return out


def module_problems(fake: types.ModuleType, m: Manifest) -> list[str]:
    out = []
    for name, obj in sorted(vars(fake).items()):
        if name.startswith("_") or name in FAKE_ONLY_MODULE_NAMES:
            continue
        if m.member(MODULE, name) is None:
            out.append(f"fake trt.{name} does not exist in TensorRT {m.version}")
            continue
        if isinstance(obj, type) and issubclass(obj, enum.IntEnum):
            out += _enum_problems(name, obj, m)
        elif isinstance(obj, type):
            out += _class_problems(name, obj, m)
            for attr, val in vars(obj).items():  # nested enums (ILogger.Severity)
                if (
                    isinstance(val, type)
                    and issubclass(val, enum.IntEnum)
                    and m.enum_members(f"{name}.{attr}")
                ):
                    out += _enum_problems(f"{name}.{attr}", val, m)
    return sorted(set(out))
