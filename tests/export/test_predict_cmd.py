"""edgeseg predict: colour mask + overlay per image, through any runner; clear errors for bad images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeseg.cli import main
from edgeseg.backends import open_runner
from edgeseg.segment import segment
from edgeseg.vis import colorize


@pytest.fixture(scope="module")
def images(tmp_path_factory, arts):
    d = tmp_path_factory.mktemp("imgs")
    paths = []
    pics = arts.frames(1, (64, 96), seed=5) + arts.frames(
        1, (50, 70), seed=6
    )  # one at the card size, one not
    for i, f in enumerate(pics):
        p = d / f"scene{i}.png"
        cv2.imwrite(str(p), f)
        paths.append(p)
    return paths


@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_predict_writes_palette_mask_and_overlay(tmp_path, tiny_ckpt, images, arts, capsys, kind):
    model = tiny_ckpt if kind == "pt" else arts.tiny_onnx(tiny_ckpt.parent)
    out = tmp_path / "pred"  # created by predict
    rc = main(["predict", str(model), *map(str, images), "-o", str(out), "--alpha", "0.4", "--no-legend"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    assert len(stdout.strip().splitlines()) == len(images)
    palette_bgr = {tuple(c[::-1]) for c in arts.tiny_card().palette}
    with open_runner(model) as r:
        for p in images:
            img = cv2.imread(str(p))
            mask = cv2.imread(str(out / f"{p.stem}_mask.png"))
            over = cv2.imread(str(out / f"{p.stem}_overlay.png"))
            assert mask.shape == img.shape and over.shape == img.shape
            assert {tuple(c) for c in mask.reshape(-1, 3)} <= palette_bgr
            np.testing.assert_array_equal(mask, colorize(segment(r, [img])[0], r.card.palette))
            expected = cv2.addWeighted(img, 0.6, mask, 0.4, 0.0)
            assert np.abs(over.astype(int) - expected.astype(int)).max() <= 1
            assert f"{p} -> " in stdout


def test_predict_draws_a_small_legend_of_the_classes_present(tmp_path, capsys):
    img = (
        cv2.resize(cv2.imread("/work/shared/datasets/camvid/val/0016E5_07959.png"), (480, 360))
        if __import__("os").path.isfile("/work/shared/datasets/camvid/val/0016E5_07959.png")
        else None
    )
    if img is None:
        from edgeseg.data.synthetic import render_scene

        img = render_scene(0, 0, (360, 480))[0]
    src = tmp_path / "street.png"
    cv2.imwrite(str(src), img)
    for flag, out in (([], tmp_path / "with"), (["--no-legend"], tmp_path / "without")):
        assert main(["predict", "cgnet_camvid", str(src), "-o", str(out), "--threads", "1", *flag]) == 0
    capsys.readouterr()
    for kind in ("mask", "overlay"):
        a = cv2.imread(str(tmp_path / "with" / f"street_{kind}.png"))
        b = cv2.imread(str(tmp_path / "without" / f"street_{kind}.png"))
        changed = (a != b).any(axis=2)
        ys, xs = np.nonzero(changed)
        assert changed.any(), f"no legend on the {kind}"
        assert xs.min() > 480 // 2 and ys.max() < 360 // 2, "the legend sits in the top-right corner"
        assert changed.mean() < 0.08, f"the legend covers {changed.mean():.0%} of the {kind}"


def test_unreadable_image_is_a_clear_error_and_writes_nothing(tmp_path, tiny_ckpt, images, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "pred"
    rc = main(["predict", str(tiny_ckpt), str(images[0]), str(bad), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "broken.png" in err and "not a readable image" in err and err.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case", ["missing", "alpha", "same_stem"])
def test_bad_arguments(tmp_path, tiny_ckpt, images, capsys, case):
    args = ["predict", str(tiny_ckpt), str(images[0]), "-o", str(tmp_path / "o")]
    if case == "missing":
        args[2], want = str(tmp_path / "nope.png"), "file not found"
    elif case == "alpha":
        args += ["--alpha", "1.5"]
        want = "--alpha"
    else:
        twin = tmp_path / "other" / images[0].name
        twin.parent.mkdir()
        twin.write_bytes(images[0].read_bytes())
        args.insert(3, str(twin))
        want = "would both write"
    if case == "alpha":  # checked when the command line is parsed
        with pytest.raises(SystemExit) as e:
            main(args)
        rc = e.value.code
    else:
        rc = main(args)
    assert rc == 2 and want in capsys.readouterr().err
