"""The Python API: ``edgeseg.load(name_or_path)`` -> ``Model``, whose ``predict`` takes images as users hold
them and whose ``export`` / ``quantize`` / ``build`` / ``bench`` call the library functions the CLI calls.

    import edgeseg
    m = edgeseg.load("cgnet_camvid")
    res = m.predict("street.jpg")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from edgeseg._inputs import check_color, is_single_image, to_bgr
from edgeseg._shipped import resolve_model, shipped_models
from edgeseg.card import ModelCard, head_of
from edgeseg.errors import EdgesegError, UnsupportedOptionError
from edgeseg.result import Segmentation

__all__ = ["Model", "load", "shipped_models"]


def load(
    name_or_path: str | os.PathLike, *, backend: str | None = None, threads: int | None = None, **options: Any
) -> "Model":
    """Open a model for prediction: a shipped name ("cgnet_camvid"; ``edgeseg.shipped_models()`` lists them),
    an edgeseg checkpoint (.pt) or any built artifact (.onnx, .xml, .engine, .mlpackage, .pte).

    ``backend``: default None, the one that opens the file's ending (torch for .pt, onnxruntime for .onnx,
    ...); naming another is refused with how to build for it. ``threads``: CPU threads (default None, the
    backend's default). Other ``options`` go to the runner (e.g. ``device="cuda"`` for a checkpoint)."""
    return Model(name_or_path, backend=backend, threads=threads, **options)


class Model:
    """A loaded model (use ``edgeseg.load``). Holds one runner until ``close()`` (or the end of a
    ``with`` block). ``card`` is its model card; ``class_names`` and ``palette`` come from it."""

    def __init__(
        self,
        name_or_path: str | os.PathLike,
        *,
        backend: str | None = None,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        from edgeseg.backends import BACKENDS, open_runner, spec_for

        path = resolve_model(name_or_path)
        spec = spec_for(path)
        if backend is not None and backend != spec.name:
            if backend not in BACKENDS:
                raise UnsupportedOptionError(
                    f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}"
                )
            raise UnsupportedOptionError(
                f"{path.name} runs on the {spec.name} backend, not {backend}; build it for {backend} first "
                f"(m.build(backend={backend!r}) or `edgeseg build {path.name} --backend {backend}`) "
                "and load that file"
            )
        if threads is not None:
            options["threads"] = threads
        self.path: Path = path
        self._runner = open_runner(path, **options)

    # -- what it is ---------------------------------------------------------------------------------
    @property
    def card(self) -> ModelCard:
        return self._runner.card

    @property
    def backend(self) -> str:
        return self._runner.backend

    @property
    def precision(self) -> str:
        return self._runner.precision

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.card.class_names

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        """(R, G, B) per class, from the card."""
        return self.card.palette

    def __repr__(self) -> str:
        return f"Model({self.path}, {self.card.arch}, {self.backend}, {self.precision})"

    # -- prediction ---------------------------------------------------------------------------------
    def predict(
        self, images: Any, *, color: str = "rgb", logits: bool = False
    ) -> Segmentation | list[Segmentation] | Iterator[Segmentation]:
        """Segment one image or many.

        ``images``: a path, a PIL image or a numpy HxWx3 array -> one ``Segmentation``; a list or tuple of
        them, or an NxHxWx3 array -> a list (every item is checked before any inference); any other
        iterable (a generator of video frames) -> an iterator that segments one item at a time.
        ``color``: the channel order of numpy arrays, "rgb" (default: what PIL, imageio, matplotlib and
        torchvision give, and the order the card's models were trained in) or "bgr" (``cv2.imread``);
        paths and PIL images know their own order. uint8 is read as 0..255, floats as 0..1; other
        ranges are refused. ``logits``: also keep the float logits (default False; refused for an artifact
        with a labels head, which has none)."""
        color = check_color(color)
        if not isinstance(logits, (bool, np.bool_)):
            raise EdgesegError(f"logits must be True or False, found {logits!r}")
        if logits and head_of(self.card) != "logits":
            raise EdgesegError(
                f"logits=True: {self.path} ends in a {head_of(self.card)} head (a uint8 label map, no "
                "logits); "
                "use a model exported with --head logits"
            )
        if is_single_image(images):
            return self._segment(to_bgr(images, color=color), source=_source(images), logits=logits)
        if isinstance(images, np.ndarray):  # NxHxWx3
            if images.ndim != 4:
                raise EdgesegError(
                    f"expected an HxWx3 image or an NxHxWx3 batch, found shape {tuple(images.shape)}"
                )
            images = list(images)
        if isinstance(images, (list, tuple)):
            if not images:
                raise EdgesegError("predict: the list of images is empty")
            frames = [
                to_bgr(im, color=color, where=f"image {i}") for i, im in enumerate(images)
            ]  # all checked first
            return [self._segment(f, source=_source(im), logits=logits) for f, im in zip(frames, images)]
        if isinstance(images, (bytes, dict)) or not isinstance(images, Iterable):
            raise EdgesegError(
                f"predict: expected a path, a PIL image, a numpy array, or a list/iterable of them, "
                f"found {type(images).__name__}"
            )
        return self._iterate(iter(images), color=color, logits=logits)

    def _iterate(self, items: Iterator[Any], *, color: str, logits: bool) -> Iterator[Segmentation]:
        for i, im in enumerate(items):
            yield self._segment(
                to_bgr(im, color=color, where=f"image {i}"), source=_source(im), logits=logits
            )

    def _segment(self, frame: np.ndarray, *, source: str, logits: bool) -> Segmentation:
        from edgeseg.data.preprocess import preprocess
        from edgeseg.segment import logits_to_labels

        out = self._runner.infer(preprocess(frame, self.card, size=self._runner.input_size))
        labels = logits_to_labels(out, frame.shape[:2])[0]
        return Segmentation(
            labels=labels,
            image=frame,
            class_names=self.card.class_names,
            palette=self.card.palette,
            logits=out[0] if logits else None,
            source=source,
        )

    # -- the pipeline, as the CLI runs it -----------------------------------------------------------
    def _need(self, suffixes: tuple[str, ...], what: str) -> None:
        if self.path.suffix.lower() not in suffixes:
            raise EdgesegError(
                f"{what} takes a {' or '.join(suffixes)} model; {self.path.name} is {self.path.suffix!r}"
            )

    def export(
        self,
        *,
        output: str | os.PathLike | None = None,
        size: tuple[int, int] | None = None,
        dynamic: bool = False,
        **kwargs: Any,
    ) -> Any:
        """``edgeseg export``: this checkpoint to a checked ONNX (``export_checkpoint``; default output beside
        the checkpoint with .onnx, size the card's). Returns its ``ExportResult`` (``.path``)."""
        from edgeseg.backends import open_runner
        from edgeseg.export import export_checkpoint

        self._need((".pt",), "export")
        return export_checkpoint(
            self.path, output=output, size=size, dynamic=dynamic, open_onnx=open_runner, **kwargs
        )

    def quantize(
        self,
        *,
        method: str = "ptq",
        calib: str | None = None,
        output: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> Path:
        """``edgeseg quantize``: INT8 ONNX from this checkpoint (``quant.pipeline.quantize``; default method
        "ptq", which needs ``calib``, e.g. "camvid:PATH"). Returns the output path."""
        from edgeseg.quant.pipeline import quantize

        self._need((".pt", ".onnx") if method == "ort-cpu" else (".pt",), f"quantize --method {method}")
        return quantize(self.path, method=method, calib=calib, output=output, **kwargs)

    def build(self, *, backend: str, output: str | os.PathLike | None = None, **options: Any) -> Any:
        """``edgeseg build``: a deployable artifact from this model with ``backend`` (no default here: name
        one of the builders, e.g. "onnxruntime", "openvino", "tensorrt"). ``options`` are the build's (e.g.
        ``int8=True``, ``threads=2``; ``max_drop=POINTS`` with ``int8``, ``calib`` and ``val_data``: the
        mixed-precision search of ``edgeseg build --int8 --max-drop``, from a .pt checkpoint; with it
        ``layer_cost="flops"|"openvino"|FILE.json``, ``prefer_cheap=True`` and ``drop_reference="labels"``,
        the measuring function "openvino" needs passed down as the CLI does), checked as the CLI checks
        them before any work; output default: the builder's. Returns its ``BuildResult`` (``.path``)."""
        from edgeseg.backends import BACKENDS
        from edgeseg.backends._mixed import build_sources, check_build_request
        from edgeseg.backends._options import options_table
        from edgeseg.bench.cost_source import measure_for

        unknown = sorted(set(options) - set(options_table(BACKENDS)))
        if unknown:
            raise UnsupportedOptionError(f"build: {', '.join(unknown)} is not a build option of any backend")
        given, mixed = check_build_request(backend, options, BACKENDS, measure_for=measure_for)
        spec = BACKENDS[backend]
        self._need(build_sources(spec.sources, mixed=mixed is not None), f"the {backend} build")
        measure = None if mixed is None else mixed.measure  # --layer-cost openvino: measured here
        more = {} if measure is None else {"layer_cost_measure": measure}
        out = None if output is None else str(output)
        return spec.build_function()(str(self.path), output=out, **given, **more)

    def bench(
        self,
        *,
        output: str | os.PathLike = "bench_results.json",
        data: str | None = None,
        max_frames: int | None = None,
        runs: int = 50,
        warmup: int = 10,
        threads: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``edgeseg bench FILE``: latency (default 50 timed runs after 10 warm-up) and, with ``data``
        (e.g. "camvid:PATH"), val mIoU, in a worker process; appends the run to ``output`` (default
        bench_results.json) and returns it."""
        from edgeseg.bench.harness import run_matrix
        from edgeseg.bench.matrix import matrix_from_artifacts

        matrix = matrix_from_artifacts(
            [str(self.path)],
            runs=runs,
            warmup=warmup,
            threads=threads,
            data=data,
            max_frames=max_frames,
            **kwargs,
        )
        return run_matrix(matrix, output, measure_peak=False)

    # -- lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Free the runner. Safe to call twice."""
        self._runner.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _source(image: Any) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else ""
