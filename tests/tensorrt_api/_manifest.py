"""Read the committed TensorRT API manifests (tools/trt_api/tensorrt-*.json, made from NVIDIA's
binding wheels by tools/trt_api/make_manifests.py) and answer "does version V have X.Y?"."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = ROOT / "tools" / "trt_api"
MODULE = "<module>"
#: Module attributes every TensorRT package defines in its __init__.py (the manifest header records the
#: version).
MODULE_DUNDERS = {"__version__"}


@dataclass(frozen=True)
class Manifest:
    key: str  # "10.3"
    version: str  # "10.3.0"
    data: dict

    def has_type(self, name: str) -> bool:
        return name in self.data["classes"] or name in self.data["enums"]

    def member(self, owner: str, name: str) -> dict | None:
        """The member record of ``owner.name``; owner MODULE for module attributes. None: absent."""
        d = self.data
        if owner == MODULE:
            if name in MODULE_DUNDERS:
                return {"kind": "attribute"}
            if name in d["classes"]:
                return {"kind": "class"}
            if name in d["enums"]:
                return {"kind": "enum"}
            if name in d["functions"]:
                return {"kind": "function", **d["functions"][name]}
            if name in d["constants"]:
                return {"kind": "attribute"}
            return None
        if owner in d["enums"]:
            members = d["enums"][owner]["members"]
            return {"kind": "enum_member", "value": members[name]} if name in members else None
        cls = d["classes"].get(owner)
        return None if cls is None else cls["members"].get(name)

    def enum_members(self, name: str) -> dict[str, int] | None:
        e = self.data["enums"].get(name)
        return None if e is None else dict(e["members"])


@functools.lru_cache(maxsize=None)
def manifests() -> tuple[Manifest, ...]:
    out = []
    for p in sorted(MANIFEST_DIR.glob("tensorrt-*.json")):
        d = json.loads(p.read_text())
        out.append(Manifest(key=p.stem.split("-", 1)[1], version=d["tensorrt_version"], data=d))
    return tuple(sorted(out, key=lambda m: tuple(int(x) for x in m.key.split("."))))


def union_member(owner: str, name: str) -> dict | None:
    """The member record from the newest manifest that has it (for typing expressions)."""
    for m in reversed(manifests()):
        rec = m.member(owner, name)
        if rec is not None:
            return rec
    return None


def is_type(name: str) -> bool:
    return any(m.has_type(name) for m in manifests())


def is_enum(name: str) -> bool:
    return any(name in m.data["enums"] for m in manifests())


def norm_type(text: str | None) -> str | None:
    """'tensorrt.IHostMemory' -> 'IHostMemory'; 'Optional[X]' / 'X | None' -> 'X'; List -> list."""
    if text is None:
        return None
    t = text.replace(" ", "").replace("tensorrt.", "")
    t = re.sub(r"^Optional\[(.*)\]$", r"\1", t)
    t = re.sub(r"\|None$|^None\|", "", t)
    t = t.replace("List[", "list[").replace("Tuple[", "tuple[")
    return t


def returns(rec: dict | None) -> list[str]:
    """Normalized return types of a method/function record (one per overload), or the property type."""
    if rec is None:
        return []
    if rec.get("kind") == "property":
        return [norm_type(rec.get("type"))] if rec.get("type") else []
    return [norm_type(s["returns"]) for s in rec.get("signatures", [])]


def params(rec: dict | None) -> list[list[str]]:
    """Parameter names per overload, without self."""
    out = []
    for s in (rec or {}).get("signatures", []):
        names = []
        depth, cur = 0, ""
        for ch in s["params"] + ",":
            if ch in "[(<":
                depth += 1
            elif ch in "])>":
                depth -= 1
            if ch == "," and depth == 0:
                n = cur.strip().split(":")[0].split("=")[0].strip().lstrip("*")
                if n and n != "self":
                    names.append(n)
                cur = ""
            else:
                cur += ch
        out.append(names)
    return out
