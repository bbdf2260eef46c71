"""edgeseg camera: live segmentation from a camera, stream or video file, pipelined, with stats."""

from __future__ import annotations

import argparse
import os

from edgeseg.commands._policy import Io
from edgeseg.errors import EdgesegError

from edgeseg.commands._args import float_in, int_in, parse_size, positive_int, seconds

HELP = "run a model on a camera / stream / video file: overlay, recording, masks, latency and FPS stats"

IO = Io(inputs=("model", "source"), files=("record", "stats_out"), folders=("save_masks",), loose=("source",))

EPILOG = """sources: 0 (camera index), /dev/video0, clip.mp4, rtsp://..., csi://0 (Jetson CSI camera via
nvarguscamerasrc; --width/--height/--fps/--flip), "gst:PIPELINE ! appsink" (your own GStreamer pipeline).
Repeat --source for several cameras in one loop (a mosaic, per-source stats).
--serve 8080 streams to a browser: http://127.0.0.1:8080/ (page), /stream.mjpg, /stats.json, /events.
keys: q quit, space pause, s snapshot. Ctrl-C / SIGTERM stop cleanly and print the stats."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends import artifact_kinds

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("model", help=f"model file: {artifact_kinds()}")
    src = p.add_argument_group("source")
    src.add_argument(
        "--source",
        action="append",
        default=None,
        help="camera index, /dev/videoN, video file, rtsp://..., csi://N or gst:PIPELINE (default 0); "
        "repeat it for several sources",
    )
    src.add_argument("--width", type=int_in(1), default=None, help="csi:// capture width (default 1280)")
    src.add_argument("--height", type=int_in(1), default=None, help="csi:// capture height (default 720)")
    src.add_argument("--fps", type=int_in(1), default=None, help="csi:// capture frame rate (default 30)")
    src.add_argument(
        "--flip", type=int_in(0, 7), default=None, help="csi:// nvvidconv flip-method 0..7 (default 0)"
    )
    mode = src.add_mutually_exclusive_group()
    mode.add_argument(
        "--live",
        dest="live",
        action="store_true",
        default=None,
        help="always infer the newest frame, drop stale ones (default for cameras and streams)",
    )
    mode.add_argument(
        "--every-frame",
        dest="live",
        action="store_false",
        help="infer every frame in order, drop nothing (default for files)",
    )
    src.add_argument(
        "--stale-timeout",
        type=seconds,
        default=3.0,
        help="seconds without a new frame before a live source counts as stalled and is reopened "
        "(default 3; 0 = off)",
    )
    src.add_argument(
        "--reconnect-timeout",
        type=seconds,
        default=30.0,
        help="give up after this many seconds of failed reopen attempts (default 30)",
    )
    src.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    run = p.add_argument_group("model")
    run.add_argument(
        "--size",
        type=parse_size,
        default=None,
        help="inference size HxW for models that take any size (default: the card's input size)",
    )
    run.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the runner")
    run.add_argument(
        "--device", default=None, help="runner device (torch: cpu / cuda:N; TensorRT: GPU index)"
    )
    run.add_argument(
        "--no-spin",
        action="store_true",
        help="ONNX Runtime models: its threads do not busy-wait between frames, leaving the CPU to capture "
        "and drawing (default: ONNX Runtime's spinning; see docs/camera.md)",
    )
    show = p.add_argument_group("display")
    show.add_argument(
        "--view",
        choices=("overlay", "mask", "side"),
        default="overlay",
        help="overlay (default), colour mask only, or frame and mask side by side",
    )
    show.add_argument("--alpha", type=float_in(0, 1), default=0.5, help="overlay opacity 0..1 (default 0.5)")
    show.add_argument(
        "--classes", default=None, help="comma-separated class names to show (default all), e.g. Road,Car"
    )
    show.add_argument("--no-hud", dest="hud", action="store_false", help="hide the FPS / latency text")
    show.add_argument("--no-legend", dest="legend", action="store_false", help="hide the class legend")
    show.add_argument(
        "--headless", action="store_true", default=None, help="no window (automatic when there is no display)"
    )
    out = p.add_argument_group("outputs")
    out.add_argument(
        "--record", default=None, metavar="FILE", help="write the rendered video (.mp4 mp4v, .avi MJPG, ...)"
    )
    out.add_argument(
        "--record-fps",
        type=float_in(0, above=True),
        default=None,
        help="frame rate written into the recording (default: the source's, else 30)",
    )
    out.add_argument(
        "--save-masks",
        default=None,
        metavar="DIR",
        help="write each frame's label map (class ids) as DIR/<frame>.png",
    )
    out.add_argument(
        "--snapshot-dir", default=".", metavar="DIR", help="where the s key saves snapshots (default .)"
    )
    out.add_argument(
        "--stream-out",
        default=None,
        metavar="URL",
        help="also send the rendered video as H.264 to rtp://HOST:PORT or rtsp://HOST:PORT/PATH (needs "
        "OpenCV with GStreamer)",
    )
    out.add_argument(
        "--stats", dest="stats_out", default=None, metavar="FILE", help="also write the run's stats as JSON"
    )

    serve = p.add_argument_group("serve (HTTP: page, MJPEG stream, JSON, events)")
    serve.add_argument(
        "--serve",
        default=None,
        metavar="[HOST:]PORT",
        help="serve the page, /stream.mjpg, /stats.json and /events on PORT (host 127.0.0.1 unless "
        "given; 0.0.0.0 = every interface)",
    )
    serve.add_argument(
        "--token",
        default=None,
        help="require this token on every request (?token= or the X-Edgeseg-Token header); default: "
        "$EDGESEG_TOKEN, else none",
    )
    serve.add_argument(
        "--max-clients",
        type=int_in(1, 1000),
        default=8,
        help="most streaming clients at once (default 8); one more gets 503",
    )
    serve.add_argument(
        "--send-timeout",
        type=float_in(0, above=True),
        default=5.0,
        help="drop a client that takes no data for this many seconds (default 5)",
    )
    serve.add_argument(
        "--jpeg-quality",
        type=int_in(1, 100),
        default=80,
        help="JPEG quality of the stream 1..100 (default 80)",
    )


def _device_option(text: str):
    return int(text) if text.isdigit() else text


def run(args: argparse.Namespace) -> int:
    from edgeseg._io import atomic_write_json, check_output_path
    from edgeseg.camera.capture import SourceLostError
    from edgeseg.camera.pipeline import CameraLoop, CameraOptions
    from edgeseg.camera.publish import ServeOptions
    from edgeseg.camera.serve import parse_address
    from edgeseg.camera.sources import parse_source
    from edgeseg.backends import open_runner

    sources = [
        parse_source(s, width=args.width, height=args.height, fps=args.fps, flip=args.flip)
        for s in args.source or ["0"]
    ]
    serve = None
    if args.serve is not None:
        host, port = parse_address(args.serve)
        token = args.token if args.token is not None else (os.environ.get("EDGESEG_TOKEN") or None)
        serve = ServeOptions(
            host=host,
            port=port,
            token=token,
            max_clients=args.max_clients,
            send_timeout=args.send_timeout,
            jpeg_quality=args.jpeg_quality,
        )
    elif args.token is not None:
        raise EdgesegError("--token only applies with --serve")
    if args.stream_out:
        from edgeseg.camera.streamout import stream_pipeline

        stream_pipeline(args.stream_out)  # a malformed URL fails before the model loads
    if args.stats_out:
        check_output_path(args.stats_out)
    classes = tuple(c for c in args.classes.split(",") if c.strip()) if args.classes is not None else None
    options = CameraOptions(
        view=args.view,
        alpha=args.alpha,
        classes=classes,
        hud=args.hud,
        legend=args.legend,
        headless=args.headless,
        record=args.record,
        record_fps=args.record_fps,
        save_masks=args.save_masks,
        snapshot_dir=args.snapshot_dir,
        max_frames=args.max_frames,
        size=args.size,
        live=args.live,
        stale_timeout=args.stale_timeout,
        reconnect_timeout=args.reconnect_timeout,
        serve=serve,
        stream_out=args.stream_out,
    )
    runner_opts = {}
    if args.threads:
        runner_opts["threads"] = args.threads
    if args.device is not None:
        runner_opts["device"] = _device_option(args.device)
    if args.no_spin:
        runner_opts["spin"] = False
    with open_runner(args.model, **runner_opts) as runner:
        loop = CameraLoop(runner, sources, options)
        try:
            stats = loop.run()
        except SourceLostError as e:
            if e.stats is not None:
                _report(e.stats, args, atomic_write_json, runner)
            raise
    _report(stats, args, atomic_write_json, runner)
    return 0


def _report(stats, args: argparse.Namespace, write_json, runner) -> None:
    print(stats.format())
    if args.record and stats.recorded:
        print(f"wrote {args.record} ({stats.recorded} frames)")
    if args.stats_out:
        d = stats.to_dict()
        d.update(model=str(args.model), backend=runner.backend, precision=runner.precision)
        write_json(args.stats_out, d)
        print(f"wrote {args.stats_out}")
