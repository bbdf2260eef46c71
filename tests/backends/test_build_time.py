"""Build time is stamped once, by timed_build's clock, under one spelling."""

from __future__ import annotations

import time

from edgeseg.backends._build import BuildResult, build_time, timed_build
from edgeseg.card import BUILD_SECONDS_KEYS, ModelCard, build_seconds_of


def test_the_card_stamp_comes_from_the_driver_clock(tmp_path):
    assert build_time() == {}  # outside a build: nothing to stamp
    out = tmp_path / "m.onnx"

    @timed_build("onnxruntime")
    def fake_build():  # a build function as the backends write them
        time.sleep(0.05)
        stamp = build_time()
        out.write_bytes(b"x")
        card = ModelCard(
            arch="cgnet",
            num_classes=2,
            class_names=("a", "b"),
            palette=((0, 0, 0), (1, 1, 1)),
            input_size=(8, 8),
        )
        return BuildResult(path=out, precision="fp32", path_name="fake", card=card.replace(extra=stamp))

    res = fake_build()
    assert list(res.card.extra) == [BUILD_SECONDS_KEYS[0]]
    assert 0.05 <= build_seconds_of(res.card.extra) <= res.seconds
    assert build_time() == {}  # the clock stops with the build
