"""Dump the API surface of an imported TensorRT binding module as JSON on stdout.

Run by ``tools/trt_api/make_manifests.py`` in a child interpreter whose ``LD_LIBRARY_PATH``
holds stub libnvinfer / libnvonnxparser / libnvinfer_plugin libraries (every entry point
aborts when called; importing the module calls none of them). Everything below is read from the
live pybind11 objects NVIDIA's module registers at import: class and enum objects, ``dir()``,
property getters/setters, enum ``__members__`` and values, and the signature line pybind11 puts
first in every docstring. Never imported by edgeseg or its tests.

Usage: python _dump.py MODULE_NAME   (e.g. tensorrt_bindings)
"""

from __future__ import annotations

import ctypes
import importlib
import inspect
import json
import re
import sys

#: C++ type names that pybind11 prints verbatim in a few signatures, and the Python class that wraps them.
CXX_ALIASES = {"nvonnxparser::IParserError": "tensorrt.ParserError"}
#: Dunders worth recording (what a caller or a subclass relies on); the rest are pybind11/object plumbing.
DUNDERS = (
    "__init__",
    "__len__",
    "__getitem__",
    "__setitem__",
    "__iter__",
    "__call__",
    "__int__",
    "__index__",
    "__bytes__",
    "__buffer__",
    "__enter__",
    "__exit__",
    "__str__",
    "__repr__",
)
TP_AS_BUFFER_OFFSET = 20 * ctypes.sizeof(ctypes.c_void_p)  # PyTypeObject.tp_as_buffer on CPython 3.8-3.13


def _buffer_probe_ok() -> bool:
    return _has_buffer(bytes) and not _has_buffer(int)


def _has_buffer(cls: type) -> bool:
    return bool(ctypes.c_void_p.from_address(id(cls) + TP_AS_BUFFER_OFFSET).value)


def norm(text: str, mod: str) -> str:
    """Module-qualified names -> 'tensorrt.X'; a C++ type name pybind11 printed verbatim
    (nvinfer1::X, nvonnxparser::X) -> 'tensorrt.X' when the module registers a Python type X."""
    text = text.replace(f"{mod}.tensorrt.", "tensorrt.").replace(f"{mod}.", "tensorrt.")
    for cxx, py in CXX_ALIASES.items():
        text = text.replace(cxx, py)

    def py_name(m: re.Match) -> str:
        name = m.group(1)
        return f"tensorrt.{name}" if isinstance(getattr(MODULE_OBJ, name, None), type) else m.group(0)

    return re.sub(r"\b(?:nvinfer1|nvonnxparser)::(?:v_\d+_\d+::)?(\w+)", py_name, text)


def signatures(name: str, doc: str | None, mod: str) -> list[dict[str, str]]:
    """[{"params": "...", "returns": "..."}] from pybind11's docstring (one per overload)."""
    out = []
    pat = re.compile(r"^(?:\d+\.\s+)?" + re.escape(name) + r"\((.*)\)\s*->\s*(.+?)\s*$")
    for line in (doc or "").splitlines():
        m = pat.match(line.strip())
        if m and m.group(1) != "*args, **kwargs":
            params = re.sub(r"^self: [\w.]+(, )?", "self\\1", norm(m.group(1), mod))
            out.append({"params": params, "returns": norm(m.group(2), mod)})
    return out


def deprecation(doc: str | None) -> str | None:
    for line in (doc or "").splitlines():
        if "deprecated" in line.lower():
            return line.strip()
    return None


def is_enum(obj: object) -> bool:
    return isinstance(obj, type) and isinstance(getattr(obj, "__members__", None), dict)


def describe_enum(cls: type) -> dict:
    docs: dict[str, str] = {}
    text = (cls.__doc__ or "").split("Members:", 1)
    if len(text) == 2:
        cur = None
        for line in text[1].splitlines():
            m = re.match(r"^  (\w+) : ?(.*)$", line)
            if m and m.group(1) in cls.__members__:
                cur = m.group(1)
                docs[cur] = m.group(2).strip()
            elif cur and line.strip():
                docs[cur] = (docs[cur] + " " + line.strip()).strip()
    return {
        "members": {k: int(v) for k, v in cls.__members__.items()},
        "member_docs": {k: v for k, v in docs.items() if v},
    }


def describe_member(cls: type, name: str, mod: str) -> dict | None:
    for owner in cls.__mro__:
        if name in owner.__dict__:
            raw = owner.__dict__[name]
            break
    else:
        return None
    if owner is object or owner.__module__ == "pybind11_builtins":
        return None
    info: dict = {"defined_in": owner.__name__}
    if isinstance(raw, property):
        sig = signatures("", raw.fget.__doc__ if raw.fget else None, mod)
        info.update(kind="property", readonly=raw.fset is None, type=sig[0]["returns"] if sig else None)
    elif isinstance(raw, (staticmethod, classmethod)):
        fn = raw.__func__
        info.update(kind="static", signatures=signatures(name, fn.__doc__, mod))
    elif isinstance(raw, type):
        info.update(kind="enum" if is_enum(raw) else "class")
    elif callable(raw) or type(raw).__name__ in ("instancemethod", "wrapper_descriptor"):
        doc = getattr(raw, "__doc__", None)
        sigs = signatures(name, doc, mod)
        if not sigs and inspect.isfunction(raw):  # a Python function added by the package's __init__.py
            sigs = [{"params": str(inspect.signature(raw))[1:].rsplit(")", 1)[0], "returns": "?"}]
            info["python_level"] = True
        info.update(kind="method", signatures=sigs)
        dep = None if info.get("python_level") else deprecation(doc)
        if dep:
            info["deprecated"] = dep
    else:
        info.update(kind="attribute", value=norm(repr(raw), mod))
    return info


def describe_class(cls: type, mod: str) -> dict:
    members = {}
    for name in sorted(set(dir(cls))):
        if name.startswith("__") and name not in DUNDERS:
            continue
        info = describe_member(cls, name, mod)
        if info is not None:
            members[name] = info
    own_bases = [b.__name__ for b in cls.__mro__[1:] if b.__module__.startswith(mod)]
    out = {"bases": own_bases, "members": members}
    if BUFFER_OK:
        out["buffer_protocol"] = _has_buffer(cls)
    dep = deprecation((cls.__doc__ or "").split("\n\n")[0] if cls.__doc__ else None)
    if dep:
        out["deprecated"] = dep
    return out


MODULE_OBJ = None


def main(modname: str) -> dict:
    global MODULE_OBJ
    m = MODULE_OBJ = importlib.import_module(modname)
    classes, enums, functions, constants = {}, {}, {}, {}

    def visit_type(qual: str, obj: type) -> None:
        if is_enum(obj):
            enums[qual] = describe_enum(obj)
        else:
            classes[qual] = describe_class(obj, modname)
        for k, v in sorted(vars(obj).items()):
            if isinstance(v, type) and v.__module__.startswith(modname) and v.__name__ == k:
                visit_type(f"{qual}.{k}", v)

    for name in sorted(dir(m)):
        if name.startswith("_"):
            continue
        obj = getattr(m, name)
        if isinstance(obj, type):
            if obj.__name__ == name:
                visit_type(name, obj)
            else:
                constants[name] = f"alias of {norm(obj.__module__ + '.' + obj.__qualname__, modname)}"
        elif inspect.ismodule(obj):
            continue
        elif callable(obj):
            sigs = signatures(name, obj.__doc__, modname)
            if not sigs and inspect.isfunction(obj):
                sigs = [{"params": str(inspect.signature(obj))[1:].rsplit(")", 1)[0], "returns": "?"}]
            functions[name] = {"signatures": sigs}
        else:
            constants[name] = norm(repr(obj), modname)
    return {
        "version": getattr(m, "__version__", None),
        "classes": classes,
        "enums": enums,
        "functions": functions,
        "constants": constants,
    }


BUFFER_OK = _buffer_probe_ok()

if __name__ == "__main__":
    res = main(sys.argv[1])
    res["buffer_protocol_probe"] = BUFFER_OK
    json.dump(res, sys.stdout, indent=1, sort_keys=True)
