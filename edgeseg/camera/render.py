"""Turning logits into the picture: argmax, one nearest resize, LUT colouring, view, legend, HUD.

All of it runs in the render (main) thread, never in the inference thread. Views (default
"overlay"): ``overlay`` blends the colour mask over the frame (``alpha``, default 0.5),
``mask`` shows the colour mask alone, ``side`` puts the frame and the mask side by side.
With ``classes`` only those classes are coloured; other pixels show the frame (black in ``mask``).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError
from edgeseg.segment import logits_to_labels
from edgeseg.vis import colorize, legend, legend_row, overlay, palette_lut

VIEWS = ("overlay", "mask", "side")


def class_ids(names: Iterable[str], card: ModelCard) -> tuple[int, ...]:
    """Class names (case-insensitive, from the card) -> ids; unknown names list the valid ones."""
    lookup = {n.lower(): i for i, n in enumerate(card.class_names)}
    ids, unknown = [], []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if name.lower() in lookup:
            ids.append(lookup[name.lower()])
        else:
            unknown.append(name)
    if unknown:
        raise EdgesegError(
            f"unknown class name(s) {', '.join(repr(u) for u in unknown)} for --classes; "
            f"this model's classes are: {', '.join(card.class_names)}"
        )
    if not ids:
        raise EdgesegError(f"--classes is empty; name one or more of: {', '.join(card.class_names)}")
    return tuple(dict.fromkeys(ids))


class Renderer:
    """Composes one output image per frame; the output size is fixed by the first frame."""

    def __init__(
        self,
        card: ModelCard,
        *,
        view: str = "overlay",
        alpha: float = 0.5,
        classes: Sequence[int] | None = None,
        hud: bool = True,
        show_legend: bool = True,
    ) -> None:
        if view not in VIEWS:
            raise EdgesegError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
        if not 0.0 <= alpha <= 1.0:
            raise EdgesegError(f"--alpha must be in 0..1, found {alpha}")
        self.card = card
        self.view = view
        self.alpha = float(alpha)
        self.classes = tuple(classes) if classes is not None else None
        self.lut = palette_lut(card.palette, classes=self.classes)
        self.hud = hud
        self.show_legend = show_legend
        self.frame_hw: tuple[int, int] | None = None
        self._legend: np.ndarray | None = None

    def canvas_hw(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        h, w = frame_hw
        return (h, 2 * w) if self.view == "side" else (h, w)

    def labels(self, logits: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """1xCxhxw logits (or a 1x1xhxw label map from a labels head) -> HxW uint8 class ids at the frame
        size (argmax, nearest resize)."""
        return logits_to_labels(logits[:1], frame_hw)[0]

    def fit(self, image: np.ndarray) -> np.ndarray:
        """Fix the output size at the first frame; later frames of another size are resized to it."""
        import cv2

        if self.frame_hw is None:
            self.frame_hw = image.shape[:2]
        if image.shape[:2] != self.frame_hw:
            image = cv2.resize(image, (self.frame_hw[1], self.frame_hw[0]), interpolation=cv2.INTER_LINEAR)
        return image

    def compose(self, image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The view for one frame (a new array; ``image`` is not modified)."""
        if self.view == "overlay":
            if self.alpha >= 1.0 and self.classes is None:
                out = colorize(labels, self.lut)
            else:
                out = overlay(image, labels, self.lut, alpha=self.alpha, classes=self.classes)
        elif self.view == "mask":
            out = colorize(labels, self.lut)
        else:
            out = np.concatenate([image, colorize(labels, self.lut)], axis=1)
        out = np.ascontiguousarray(out)
        if self.show_legend:
            self._paste_legend(out)
        return out

    def draw_hud(self, canvas: np.ndarray, lines: Sequence[str]) -> None:
        """Text lines on a dark box in the top-left corner (in place)."""
        import cv2

        if not self.hud or not lines:
            return
        scale = float(np.clip(canvas.shape[1] / 1400.0, 0.3, 0.8))
        step = int(round(22 * scale / 0.5))
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in lines) + 8
        height = step * len(lines) + 6
        box = canvas[:height, :width]
        box //= 3  # darken, vectorised
        for i, text in enumerate(lines):
            cv2.putText(
                canvas,
                text,
                (4, step * (i + 1)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )

    def _paste_legend(self, canvas: np.ndarray) -> None:
        if self._legend is None:
            ids = self.classes if self.classes is not None else range(self.card.num_classes)
            h, w = canvas.shape[:2]
            img = legend(
                [self.card.class_names[i] for i in ids],
                [self.card.palette[i] for i in ids],
                row=legend_row(h),
            )
            # at most a tenth of the frame (all 11 CamVid classes on 480x360: about 6 %); else left out
            if img.shape[0] + 8 > h or img.shape[1] > w / 3 or img.size / 3 > 0.10 * h * w:
                self.show_legend = False
                return
            self._legend = img
        lh, lw = self._legend.shape[:2]
        canvas[4 : 4 + lh, canvas.shape[1] - lw - 4 : canvas.shape[1] - 4] = self._legend
