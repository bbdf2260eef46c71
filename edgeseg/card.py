"""The model card: the facts every stage needs, written into checkpoints, ONNX metadata and sidecars.

Runners, the evaluator and the camera loop preprocess from this record and never from their own
constants, so training and deployment cannot silently disagree.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseg.errors import EdgesegError

CARD_VERSION = 1
ONNX_METADATA_KEY = "edgeseg.card"
SIDECAR_SUFFIX = ".card.json"

# ImageNet statistics in 0..255 RGB units; the default for models trained here.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

PRECISIONS = ("fp32", "fp16", "int8")
#: How an artifact's graph ends (``card.extra["head"]``; absent: "logits"). "logits": N x C x H x W
#: float32; "labels": the arg-max of those logits, N x 1 x H x W uint8; "labels-lowres": the arg-max
#: taken at the logits' own resolution (CGNet: 1/8) and resized to H x W (nearest), N x 1 x H x W uint8.
HEADS = ("logits", "labels", "labels-lowres")
#: Where ``card.extra`` records the build time (stamped by ``backends._build.timed_build``'s clock),
#: then the older spellings still read.
BUILD_SECONDS_KEYS = ("build_seconds", "build_s", "build_time_s")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _seq(check: Any, n: int | None = None) -> Any:
    return lambda v: isinstance(v, (list, tuple)) and (n is None or len(v) == n) and all(check(x) for x in v)


#: The card's one schema: field -> (what it must be, in words; the check). Unknown fields are kept
#: out of the card (a newer edgeseg's additions), never trusted.
CARD_TYPES: dict[str, tuple[str, Any]] = {
    "arch": ("a string", lambda v: isinstance(v, str)),
    "num_classes": ("a whole number", _int),
    "class_names": ("a list of strings", _seq(lambda x: isinstance(x, str))),
    "palette": ("a list of [R, G, B] whole numbers", _seq(_seq(_int, 3))),
    "arch_args": ("a mapping", lambda v: isinstance(v, dict)),
    "ignore_index": ("a whole number", _int),
    "input_size": ("[height, width] whole numbers", _seq(_int, 2)),
    "mean": ("three finite numbers", _seq(_num, 3)),
    "std": ("three finite numbers", _seq(_num, 3)),
    "channel_order": ("a string", lambda v: isinstance(v, str)),
    "precision": ("a string", lambda v: isinstance(v, str)),
    "source": ("a string", lambda v: isinstance(v, str)),
    "calibration": ("a mapping", lambda v: isinstance(v, dict)),
    "metrics": ("a mapping", lambda v: isinstance(v, dict)),
    "training": ("a mapping", lambda v: isinstance(v, dict)),
    "extra": ("a mapping", lambda v: isinstance(v, dict)),
    "version": ("a whole number", _int),
}


def check_card_types(d: dict[str, Any], *, where: str) -> None:
    """EdgesegError naming the first field of ``d`` that is not of its CARD_TYPES type."""
    for key, (want, ok) in CARD_TYPES.items():
        if key in d and not ok(d[key]):
            found = json.dumps(d[key], default=str)[:80]
            raise EdgesegError(f"{where}: model card field {key!r} must be {want}, found {found}")


@dataclass(frozen=True)
class ModelCard:
    """What a model expects and where it came from.

    Defaults: ``mean``/``std`` are ImageNet statistics in 0..255 units applied to RGB,
    ``ignore_index`` 255, ``precision`` "fp32", ``input_size`` (H, W) = (360, 480).
    """

    arch: str
    num_classes: int
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    arch_args: dict[str, Any] = field(default_factory=dict)
    ignore_index: int = 255
    input_size: tuple[int, int] = (360, 480)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    precision: str = "fp32"
    source: str = ""  # the checkpoint (or artifact) this one came from, with its sha256
    calibration: dict[str, Any] = field(default_factory=dict)  # method, set hash, frames
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. {"val_miou": 0.61, "dataset": "camvid"}
    training: dict[str, Any] = field(default_factory=dict)  # command, epochs, seed, wall time
    extra: dict[str, Any] = field(default_factory=dict)  # backend facts (TensorRT version, GPU, threads...)
    version: int = CARD_VERSION

    def __post_init__(self) -> None:
        problems = []
        if self.num_classes < 1:
            problems.append(f"num_classes must be >= 1, found {self.num_classes}")
        if len(self.class_names) != self.num_classes:
            problems.append(f"{self.num_classes} classes but {len(self.class_names)} class names")
        if len(self.palette) != self.num_classes:
            problems.append(f"{self.num_classes} classes but {len(self.palette)} palette colours")
        if any(len(c) != 3 or not all(0 <= int(v) <= 255 for v in c) for c in self.palette):
            problems.append("palette colours must be (R, G, B) triples in 0..255")
        if 0 <= self.ignore_index < self.num_classes:
            problems.append(
                f"ignore_index {self.ignore_index} collides with a class id (0..{self.num_classes - 1})"
            )
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            problems.append(f"input_size must be (height, width) > 0, found {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append("mean and std must be three numbers each, std > 0")
        if self.channel_order not in ("RGB", "BGR"):
            problems.append(f"channel_order must be RGB or BGR, found {self.channel_order!r}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, found {self.precision!r}")
        if problems:
            raise EdgesegError("invalid model card: " + "; ".join(problems))

    # -- conversion ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (safe inside a ``weights_only`` checkpoint)."""
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.class_names)
        d["palette"] = [list(map(int, c)) for c in self.palette]
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return json.loads(json.dumps(d))  # deep copy; fails loudly on non-JSON values

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "model card") -> "ModelCard":
        if not isinstance(d, dict):
            raise EdgesegError(f"{where}: expected a model card mapping, found {type(d).__name__}")
        check_card_types(d, where=where)
        if int(d.get("version", CARD_VERSION)) > CARD_VERSION:
            raise EdgesegError(
                f"{where}: card version {d.get('version')} is newer than this edgeseg understands "
                f"({CARD_VERSION}); upgrade edgeseg"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("arch", "num_classes", "class_names", "palette") if k not in d]
        if missing:
            raise EdgesegError(f"{where}: model card lacks {', '.join(missing)}")
        kw = {k: v for k, v in d.items() if k in names}
        kw["class_names"] = tuple(kw["class_names"])
        kw["palette"] = tuple(tuple(int(v) for v in c) for c in kw["palette"])
        for k in ("input_size", "mean", "std"):
            if k in kw:
                kw[k] = tuple(kw[k])
        try:
            return cls(**kw)
        except TypeError as e:
            raise EdgesegError(f"{where}: malformed model card ({e})") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str, *, where: str = "model card") -> "ModelCard":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise EdgesegError(f"{where}: not valid JSON ({e})") from e
        return cls.from_dict(d, where=where)

    def replace(self, **changes: Any) -> "ModelCard":
        return dataclasses.replace(self, **changes)

    # -- sidecars -----------------------------------------------------------------------------
    def write_sidecar(self, artifact: str | os.PathLike) -> Path:
        """Write ``<artifact>.card.json`` atomically and return its path."""
        from edgeseg._io import atomic_write_text

        return atomic_write_text(sidecar_path(artifact), self.to_json() + "\n")


def build_seconds_of(extra: dict[str, Any] | None) -> float | None:
    """The build time a card's ``extra`` records (any spelling of ``BUILD_SECONDS_KEYS``), or None."""
    for k in BUILD_SECONDS_KEYS:
        v = (extra or {}).get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def head_of(card: "ModelCard") -> str:
    """The head an artifact's graph ends in: ``card.extra["head"]``, "logits" when the card records none
    (every artifact made before heads existed); an EdgesegError for a name not in ``HEADS``."""
    head = (card.extra or {}).get("head", "logits")
    if head not in HEADS:
        raise EdgesegError(f"the card records head {head!r}; edgeseg knows {', '.join(HEADS)}")
    return str(head)


def sidecar_path(artifact: str | os.PathLike) -> Path:
    p = Path(artifact)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def read_sidecar(artifact: str | os.PathLike) -> ModelCard:
    """Read the card stored beside an artifact; a clear error when it is absent or malformed."""
    sc = sidecar_path(artifact)
    if not sc.is_file():
        raise EdgesegError(
            f"{artifact}: no model card beside it (expected {sc.name}); rebuild the artifact with edgeseg"
        )
    return ModelCard.from_json(sc.read_text(), where=str(sc))


def card_from_onnx(model_or_path: Any) -> ModelCard:
    """Read the card from an ONNX model's metadata_props (a path or a loaded ModelProto)."""
    import onnx

    where = str(model_or_path) if not hasattr(model_or_path, "metadata_props") else "ONNX model"
    model = model_or_path
    if not hasattr(model, "metadata_props"):
        model = onnx.load(str(model_or_path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == ONNX_METADATA_KEY:
            return ModelCard.from_json(prop.value, where=where)
    raise EdgesegError(f"{where}: no edgeseg model card in its metadata_props (key {ONNX_METADATA_KEY!r})")


def card_to_onnx(model: Any, card: ModelCard) -> None:
    """Store the card in an ONNX ModelProto's metadata_props (replacing an older one)."""
    keep = [p for p in model.metadata_props if p.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.append(p)
    entry = model.metadata_props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = card.to_json()


def training_label(training: dict[str, Any]) -> str:
    """How a checkpoint was trained, in a few words for charts: "2.5 h CPU budget, train",
    "800 ep GPU, train+val", or "" when the card records no training."""
    if not training:
        return ""
    command = str(training.get("command") or "")
    split = (
        "train+val"
        if "--train-split trainval" in command or training.get("train_split") == "trainval"
        else "train"
    )
    device = "GPU" if str(training.get("device", "")).startswith("cuda") else "CPU"
    budget = training.get("budget_s")
    if isinstance(budget, (int, float)) and budget > 0:
        return f"{budget / 3600:.3g} h {device} budget, {split}"
    epochs = training.get("epochs_done")
    if isinstance(epochs, (int, float)) and epochs > 0:
        return f"{epochs:.0f} ep {device}, {split}"
    return ""
