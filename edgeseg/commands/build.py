"""``edgeseg build MODEL`` — TensorRT engine, ONNX Runtime CPU model or Core ML package."""

from __future__ import annotations

import argparse
import shlex
import sys

from edgeseg.commands._args import deprecated_alias, nonneg_int, positive_int

HELP = "build a TensorRT engine, an ONNX Runtime CPU model, a Core ML package or an OpenVINO IR from an exported model"

EPILOG = """\
backends and the options they take:
  tensorrt     --fp16 --int8 --calib --calib-num --calib-cache --calib-method --recalibrate
               --workspace --timing-cache --dla-core --gpu-fallback --shapes --device
  onnxruntime  --fp16 --int8 --calib --calib-num --per-tensor --threads --opt-level --no-rewrite
  coreml       --fp16 --int8 --min-target   (takes the .pt checkpoint, or an .onnx with it beside)
  openvino     --int8 --threads --no-rewrite   (x86/ARM CPUs; INT8 from a Q/DQ ONNX, run with int8 kernels)

examples:
  edgeseg build cgnet.onnx --fp16                                  # TensorRT FP16
  edgeseg build cgnet_qdq.onnx --int8                              # TensorRT INT8 from a Q/DQ ONNX
  edgeseg build cgnet.onnx --int8 --calib calib/camvid_train.txt   # TensorRT 8.6/10.x implicit INT8
  edgeseg build cgnet.onnx --backend onnxruntime --int8 --calib calib/camvid_train.txt
  edgeseg build cgnet.pt --backend coreml --int8
  edgeseg build cgnet_qat.onnx --backend openvino --int8 --threads 2   # fastest CPU path on x86
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("model", help="MODEL.onnx (tensorrt, onnxruntime, openvino) or MODEL.pt / MODEL.onnx (coreml)")
    p.add_argument("--backend", choices=("tensorrt", "onnxruntime", "coreml", "openvino"), default=None,
                   help="default: tensorrt when TensorRT is installed")
    p.add_argument("-o", "--output", default=None,
                   help="output path (default beside the input, named with the precision: MODEL.fp32.ort.onnx, "
                        "MODEL.int8.engine, MODEL.int8.xml, MODEL.fp16.mlpackage)")
    p.add_argument("--force", action="store_true", help="replace an existing output of another precision")
    g = p.add_argument_group("precision")
    g.add_argument("--fp16", action="store_true", help="FP16 (TensorRT: builder flag on 8.6/10.x, FP16 ONNX on 11.x)")
    g.add_argument("--int8", action="store_true",
                   help="INT8: from a Q/DQ ONNX as is, or calibrated (--calib); Core ML: INT8 weights")
    g = p.add_argument_group("calibration (implicit INT8)")
    g.add_argument("--calib", metavar="LIST|DIR|SPEC", default=None,
                   help="calibration frames: a list file, a folder of images or a dataset spec (camvid:PATH, synthetic:N)")
    g.add_argument("--calib-num", type=positive_int, default=None, metavar="N", help="frames to use (default 256, evenly spaced)")
    g.add_argument("--calib-cache", metavar="FILE", default=None,
                   help="TensorRT calibration cache (default calib/MODEL.ALGO.cache); reused only if its key matches")
    g.add_argument("--calib-method", dest="calib_algo", choices=("entropy", "minmax"), default=None,
                   help="TensorRT calibrator (default entropy)")
    deprecated_alias(g, "--calib-algo", new="--calib-method", dest="calib_algo", choices=("entropy", "minmax"))
    g.add_argument("--recalibrate", action="store_true", help="replace a stale calibration cache instead of refusing")
    g = p.add_argument_group("tensorrt")
    g.add_argument("--workspace", type=positive_int, default=None, metavar="MiB", help="builder workspace limit")
    g.add_argument("--timing-cache", metavar="FILE", default=None, help="read and update a timing cache (faster rebuilds)")
    g.add_argument("--dla-core", type=nonneg_int, default=None, metavar="N", help="build for DLA core N (Jetson Xavier/Orin)")
    g.add_argument("--gpu-fallback", action="store_true", help="with --dla-core: run layers the DLA cannot on the GPU")
    g.add_argument("--shapes", metavar="MIN/OPT/MAX", default=None,
                   help="profile for dynamic inputs, e.g. 1x3x360x480/1x3x360x480/4x3x360x480")
    g.add_argument("--device", type=nonneg_int, default=None, metavar="N", help="CUDA device index (default 0)")
    g = p.add_argument_group("onnxruntime, openvino")
    g.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads recorded for the runner (default: the library's own)")
    g = p.add_argument_group("onnxruntime")
    g.add_argument("--opt-level", choices=("basic", "extended", "all"), default=None,
                   help="graph optimizations (default extended; 'all' writes hardware-specific layouts)")
    g.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weight scales")
    g.add_argument("--no-rewrite", action="store_true",
                   help="onnxruntime, openvino: keep the graph as exported (default: rewrite PReLU/BN/Concat into "
                        "faster, equal ops; PReLU only in a Q/DQ graph for openvino)")
    g = p.add_argument_group("coreml")
    g.add_argument("--min-target", default=None, metavar="TARGET", help="minimum deployment target (default iOS16 = macOS13)")


def run(args: argparse.Namespace) -> int:
    from edgeseg.build import backend_function, check_options, default_backend

    from edgeseg.commands._outputs import build_precision, check_build_input, check_overwrite, default_build_output

    backend = args.backend or default_backend()
    values = {k: v for k, v in vars(args).items() if k != "force"}
    check_options(backend, values)
    check_build_input(args.model, backend=backend)
    precision = build_precision(backend=backend, fp16=args.fp16, int8=args.int8)
    output = args.output or default_build_output(args.model, backend=backend, precision=precision)
    check_overwrite(output, precision=precision, force=args.force)
    build = backend_function(backend)
    common = {"output": str(output), "int8": args.int8}
    if backend == "tensorrt":
        result = build(
            args.model, **common, fp16=args.fp16, calib=args.calib, calib_num=args.calib_num,
            calib_cache=args.calib_cache, calib_algo=args.calib_algo or "entropy", recalibrate=args.recalibrate,
            workspace=args.workspace, timing_cache=args.timing_cache, dla_core=args.dla_core,
            gpu_fallback=args.gpu_fallback, shapes=args.shapes, device=args.device or 0,
            command=shlex.join(["edgeseg", "build", *sys.argv[2:]]) if sys.argv[1:2] == ["build"] else None,
        )
    elif backend == "onnxruntime":
        result = build(
            args.model, **common, fp16=args.fp16, calib=args.calib, calib_num=args.calib_num, per_channel=not args.per_tensor,
            threads=args.threads, opt_level=args.opt_level or "extended", rewrite=not args.no_rewrite,
        )
    elif backend == "openvino":
        result = build(args.model, **common, threads=args.threads, rewrite=not args.no_rewrite)
    else:
        result = build(args.model, **common, fp16=True, min_target=args.min_target or "iOS16")
    print(result.summary())
    return 0
