"""Make the committed TensorRT API manifests (tools/trt_api/tensorrt-<version>.json) from NVIDIA's
own Python binding wheels. Run by hand; never at test or run time. Needs: pip (PyPI access),
gcc, nm/readelf (binutils), and a CPython whose minor version has binding wheels (3.8-3.12).

    python tools/trt_api/make_manifests.py [--work /tmp/trtwheels] [--only 10.3]

How: ``pip download --no-deps`` the bindings wheel for this interpreter (never committed; the
wheels stay in --work), compile stub libnvinfer/libnvonnxparser/libnvinfer_plugin libraries that
export the entry points the module links to (each stub aborts if called: import calls none), import
NVIDIA's module against them in a child interpreter and read the registered pybind11 objects
(``_dump.py``). The manifest header records the wheel, its sha256, the method and the known gaps.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMAT = "edgeseg.trt-api/1"
#: manifest name -> (PyPI distribution, exact version). JetPack 5.1 ships 8.5.2; NVIDIA published
#: no 8.5 bindings wheel on PyPI, so 8.6.1 (same API generation) stands in for JetPack 5.
VERSIONS = {
    "8.6": ("tensorrt-bindings", "8.6.1"),
    "10.3": ("tensorrt-cu12-bindings", "10.3.0"),  # JetPack 6.0/6.1
    "10.16": ("tensorrt-cu12-bindings", "10.16.1.11"),  # the last 10.x
    "11.4": ("tensorrt-cu12-bindings", "11.4.0.106"),
}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
METHOD = (
    "Imported NVIDIA's binding module (the .so in the PyPI wheel named in 'source') in CPython {py} against "
    "stub libnvinfer/libnvonnxparser/libnvinfer_plugin libraries that only export the {n} C entry points the "
    "module links to (each aborts if called; importing calls none of them), then read the pybind11 "
    "objects it "
    "registered: classes (dir(), MRO), methods and their overload signatures (the first docstring line "
    "pybind11 "
    "generates), properties (getter return type, setter present), enums (__members__ and integer "
    "values, member "
    "docs from the enum docstring), module functions and constants; Python-level additions of the package "
    "__init__.py (nptype, volume, Logger.WARNING aliases, __enter__/__exit__) are included and marked "
    "python_level."
)
KNOWN_GAPS = [
    "Return types are pybind11's declared C++ return types: a nullptr comes back as None, which "
    "signatures never "
    "show (e.g. build_serialized_network, deserialize_cuda_engine, create_timing_cache may return None).",
    "Behaviour is not recorded: what a method raises (e.g. IOptimizationProfile.set_shape raises on an "
    "inconsistent min/opt/max, as its docstring says), or when it returns False/-1.",
    "Instance attributes that exist only on live objects made by libnvinfer cannot be seen (none are known: "
    "pybind11 exposes members on the class).",
    "The buffer protocol is read from PyTypeObject.tp_as_buffer (ctypes); 'buffer_protocol' is absent if the "
    "probe failed on this interpreter.",
    "A signature that pybind11 printed with a C++ type name (nvinfer1::X) is mapped to tensorrt.X when "
    "the module "
    "registers that Python type (nvonnxparser::IParserError -> tensorrt.ParserError); other C++ names "
    "stay verbatim.",
    "Built for one CPython and x86_64; the aarch64 (Jetson) wheels come from the same sources and are "
    "assumed "
    "to register the same API.",
    "TensorRT 8.5.2 (JetPack 5.1) has no bindings wheel on PyPI; the 8.6 manifest stands in for it.",
]
STUB_C = """#include <stdio.h>
#include <stdlib.h>
#define STUB(n) void n(void) { fprintf(stderr, "edgeseg stub libnvinfer: %s called\\n", #n); abort(); }
"""


def sh(*cmd: str, **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def download(dist: str, version: str, work: Path) -> Path:
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    dest = work / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        py,
        "-d",
        str(dest),
        f"{dist}=={version}",
    ]
    for p in PLATFORMS:
        args += ["--platform", p]
    subprocess.run(args, check=True)
    norm = dist.replace("-", "_")
    found = sorted(dest.glob(f"{norm}-{version}-cp{py.replace('.', '')}-*.whl"))
    if not found:
        raise SystemExit(f"no {dist} {version} wheel for CPython {py} in {dest}")
    return found[0]


def linked_entry_points(so: Path) -> tuple[list[str], list[str]]:
    """(NEEDED TensorRT libraries, unversioned undefined symbols that are not the Python C API)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(libnv[^\]]+)\]", sh("readelf", "-d", str(so)))
    syms = []
    for line in sh("nm", "-D", "--undefined-only", str(so)).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U" and "@" not in parts[1] and not re.match(r"_?Py|__", parts[1]):
            if not parts[1].startswith(("dl", "pthread")):  # libc
                syms.append(parts[1])
    return needed, sorted(set(syms))


def make_stubs(needed: list[str], syms: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    src = out / "stub.c"
    src.write_text(STUB_C + "".join(f"STUB({s})\n" for s in syms))
    for lib in needed:
        sh("gcc", "-shared", "-fPIC", "-o", str(out / lib), str(src), f"-Wl,-soname,{lib}")


def manifest_for(key: str, work: Path) -> dict:
    dist, version = VERSIONS[key]
    wheel = download(dist, version, work)
    root = work / "x" / wheel.stem
    with zipfile.ZipFile(wheel) as z:
        z.extractall(root)
    so = next(root.glob("*/tensorrt.so"))
    modname = so.parent.name
    needed, syms = linked_entry_points(so)
    stubs = work / "stubs" / wheel.stem
    make_stubs(needed, syms, stubs)
    env = {**os.environ, "LD_LIBRARY_PATH": str(stubs), "PYTHONPATH": str(root), "PYTHONNOUSERSITE": "1"}
    raw = json.loads(sh(sys.executable, str(HERE / "_dump.py"), modname, env=env))
    if raw["version"] != version:
        raise SystemExit(f"{wheel.name}: module reports version {raw['version']}, expected {version}")
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    gaps = (
        list(KNOWN_GAPS) if raw.pop("buffer_protocol_probe") else KNOWN_GAPS + ["buffer protocol not probed"]
    )
    return {
        "format": FORMAT,
        "tensorrt_version": version,
        "source": {
            "distribution": dist,
            "wheel": wheel.name,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "module": f"{modname}.tensorrt",
            "stubbed_libraries": needed,
            "stubbed_symbols": syms,
        },
        "method": METHOD.format(py=py, n=len(syms)),
        "known_gaps": gaps,
        "made_by": "tools/trt_api/make_manifests.py",
        **{k: raw[k] for k in ("classes", "enums", "functions", "constants")},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--work", type=Path, default=Path("/tmp/trtwheels"), help="download/extract folder (not committed)"
    )
    ap.add_argument(
        "--only", choices=sorted(VERSIONS), action="append", help="make only these (default: all)"
    )
    ap.add_argument("--out", type=Path, default=HERE, help="where the manifests go (default: tools/trt_api/)")
    args = ap.parse_args(argv)
    for key in args.only or VERSIONS:
        man = manifest_for(key, args.work)
        path = args.out / f"tensorrt-{key}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(man, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)
        print(
            f"{path}: {len(man['classes'])} classes, {len(man['enums'])} enums, "
            f"{len(man['functions'])} functions"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
