"""The public API (``edgeseg.load(...).predict(...)``): every input kind gives the labels of the BGR path the
CLI takes, or one clear refusal; the result object; the README's opening example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgeseg
from edgeseg.errors import EdgesegError

ROOT = Path(__file__).resolve().parents[1]
CAMVID_FRAME = Path("/work/shared/datasets/camvid/val/0016E5_07959.png")


def _frame() -> np.ndarray:
    """A small street scene, HxWx3 uint8 BGR: a CamVid val frame when the dataset is here, else a synthetic
    one."""
    import cv2

    if CAMVID_FRAME.is_file():
        return cv2.resize(cv2.imread(str(CAMVID_FRAME)), (128, 96), interpolation=cv2.INTER_AREA)
    from edgeseg.data.synthetic import render_scene

    img, _ = render_scene(0, 0, (96, 128))
    return img


@pytest.fixture(scope="module")
def model():
    with edgeseg.load("cgnet_camvid", threads=1) as m:
        yield m


@pytest.fixture(scope="module")
def bgr():
    return _frame()


@pytest.fixture(scope="module")
def reference(model, bgr):
    """The labels of the CLI's path: open_runner + segment() on a BGR frame."""
    from edgeseg.backends import open_runner
    from edgeseg.segment import segment

    with open_runner("cgnet_camvid", threads=1) as r:
        return segment(r, [bgr])[0]


def test_import_edgeseg_is_cheap_and_exposes_the_api():
    code = (
        "import sys, edgeseg; print(sorted(m for m in ('numpy', 'cv2', 'torch', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "[]"
    assert {"load", "Model", "Segmentation", "shipped_models"} <= set(dir(edgeseg))
    with pytest.raises(AttributeError):
        edgeseg.no_such_thing  # noqa: B018


def _kinds(bgr: np.ndarray, tmp: Path):
    from PIL import Image

    rgb = np.ascontiguousarray(bgr[..., ::-1])
    png = tmp / "frame.png"
    import cv2

    cv2.imwrite(str(png), bgr)
    return {
        "path str": (str(png), {}),
        "pathlib.Path": (png, {}),
        "PIL image": (Image.fromarray(rgb), {}),
        "PIL image, palette mode": (
            Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=256),
            None,
        ),
        "rgb array, default color": (rgb, {}),
        "bgr array, color='bgr'": (bgr, {"color": "bgr"}),
        "rgb array, color='RGB'": (rgb, {"color": "RGB"}),
        "float32 0..1 rgb": (rgb.astype(np.float32) / 255, {}),
        "float64 0..1 bgr": (bgr / 255.0, {"color": "bgr"}),
        "int64 0..255 rgb": (rgb.astype(np.int64), {}),
        "non-contiguous rgb view": (bgr[..., ::-1], {}),
    }


def test_every_input_kind_gives_the_labels_of_the_bgr_path(model, bgr, reference, tmp_path):
    for name, (image, kw) in _kinds(bgr, tmp_path).items():
        res = model.predict(image, **(kw or {}))
        assert isinstance(res, edgeseg.Segmentation), name
        assert res.labels.shape == bgr.shape[:2] and res.labels.dtype == np.uint8, name
        if kw is None:  # a palette image quantizes colours: close, not equal
            assert (res.labels == reference).mean() > 0.9, name
        else:
            assert np.array_equal(res.labels, reference), f"{name}: labels differ from the BGR path"


def test_collections_give_one_result_per_image(model, bgr, reference, tmp_path):
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    png = tmp_path / "f.png"
    import cv2

    cv2.imwrite(str(png), bgr)
    for images in ([rgb, str(png)], (rgb, rgb), np.stack([rgb, rgb])):
        out = model.predict(images)
        assert isinstance(out, list) and len(out) == 2
        assert all(np.array_equal(r.labels, reference) for r in out)
    gen = model.predict(im for im in [rgb, bgr[..., ::-1]])  # a generator: lazy, one at a time
    assert not isinstance(gen, list)
    assert [np.array_equal(r.labels, reference) for r in gen] == [True, True]
    assert model.predict([png])[0].source == str(png)


def test_the_colour_order_matters_so_the_flag_is_not_ignored(model, bgr, reference):
    wrong = model.predict(bgr)  # BGR pixels declared as the default rgb
    assert (wrong.labels == reference).mean() < 0.9


@pytest.mark.parametrize(
    "image,kw,match",
    [
        (np.zeros((96, 128), np.uint8), {}, "one channel"),
        (np.zeros((96, 128, 1), np.uint8), {}, "one channel"),
        (np.zeros((96, 128, 4), np.uint8), {}, "4 channels"),
        (np.zeros((3, 96, 128), np.uint8), {}, "channel-first"),
        (np.full((8, 8, 3), 200.0, np.float32), {}, "float images are read as 0..1"),
        (np.full((8, 8, 3), -0.5, np.float32), {}, "float images are read as 0..1"),
        (np.full((8, 8, 3), np.nan, np.float32), {}, "NaN"),
        (np.full((8, 8, 3), 4000, np.uint16), {}, "do not fit 0..255"),
        (np.zeros((8, 8, 3), bool), {}, "boolean"),
        (np.zeros((0, 8, 3), np.uint8), {}, "empty"),
        (np.zeros((8, 8, 3), np.uint8), {"color": "hsv"}, "color must be"),
        (np.zeros((2, 8, 8, 3, 1), np.uint8), {}, "NxHxWx3"),
        (12, {}, "expected a path"),
        ([], {}, "empty"),
        ("no_such_image.png", {}, "file not found"),
    ],
)
def test_inputs_it_cannot_interpret_are_refused_in_one_line(model, image, kw, match):
    with pytest.raises(EdgesegError, match=match) as e:
        model.predict(image, **kw)
    assert "\n" not in str(e.value)


def test_a_bad_item_in_a_list_is_refused_before_any_inference(model, bgr, monkeypatch):
    calls = []
    monkeypatch.setattr(model._runner, "infer", lambda x: calls.append(x))
    with pytest.raises(EdgesegError, match="image 1"):
        model.predict([bgr, np.zeros((8, 8), np.uint8)])
    assert calls == []


def test_result_object(model, bgr, tmp_path):
    res = model.predict(bgr, color="bgr", logits=True)
    assert res.logits.shape == (11, *bgr.shape[:2]) and res.logits.dtype == np.float32
    assert np.array_equal(res.logits.argmax(0), res.labels)
    assert model.predict(bgr, color="bgr").logits is None
    areas = res.class_areas()
    assert set(areas) <= set(model.class_names) and abs(sum(areas.values()) - 1) < 1e-6
    assert list(areas.values()) == sorted(areas.values(), reverse=True)
    assert len(res.class_areas(present_only=False)) == 11
    assert res.class_names == model.card.class_names and res.palette == model.card.palette
    over = res.overlay()
    assert over.shape == bgr.shape and over.dtype == np.uint8
    assert np.array_equal(res.overlay(color="bgr")[..., ::-1], over)
    assert not np.array_equal(res.overlay(legend=False), over)  # the legend is drawn
    road = model.class_names.index("Road") if "Road" in model.class_names else 3
    mask = res.mask()
    assert (mask[res.labels == road] == model.palette[road]).all()  # rgb by default
    for kind in ("overlay", "mask", "labels"):
        p = res.save(tmp_path / f"{kind}.png", kind=kind)
        assert p.is_file()
    import cv2

    assert np.array_equal(cv2.imread(str(tmp_path / "labels.png"), cv2.IMREAD_UNCHANGED), res.labels)
    with pytest.raises(EdgesegError, match="lossless"):
        res.save(tmp_path / "labels.jpg", kind="labels")
    with pytest.raises(EdgesegError, match="alpha"):
        res.overlay(alpha=2)


def test_load_resolves_shipped_names_and_refuses_clearly(model):
    from edgeseg.backends import open_runner, read_card

    assert "cgnet_camvid" in edgeseg.shipped_models() and "cgnet_camvid_qat_int8" in edgeseg.shipped_models()
    assert model.backend == "torch" and model.card.arch == "cgnet" and len(model.class_names) == 11
    assert read_card("cgnet_camvid").arch == "cgnet"
    with open_runner("cgnet_camvid") as r:  # the name works below the API too
        assert r.card.arch == "cgnet"
    with pytest.raises(EdgesegError, match=r"not a shipped model name \(shipped: cgnet_camvid, "):
        edgeseg.load("cgnet_camvidd")
    with pytest.raises(EdgesegError, match="runs on the torch backend, not openvino; build it"):
        edgeseg.load("cgnet_camvid", backend="openvino")
    with pytest.raises(EdgesegError, match="unknown backend"):
        edgeseg.load("cgnet_camvid", backend="tpu")
    with pytest.raises(EdgesegError, match="threads"):
        edgeseg.load("cgnet_camvid", threads=0)


def test_pipeline_methods_check_their_input_before_any_work(model, tmp_path):
    with pytest.raises(EdgesegError, match="--backend onnxruntime does not take"):
        model.build(backend="onnxruntime", fp16=True, device="cuda:0")
    with pytest.raises(EdgesegError, match="not a build option"):
        model.build(backend="onnxruntime", bogus=1)
    with pytest.raises(EdgesegError, match="unknown backend"):
        model.build(backend="tpu")
    with edgeseg.load("cgnet_camvid_qat_int8") as q:
        with pytest.raises(EdgesegError, match="export takes a .pt model"):
            q.export(output=tmp_path / "x.onnx")
        with pytest.raises(EdgesegError, match="quantize --method ptq takes a .pt model"):
            q.quantize(calib="synthetic:2")


def test_export_then_load_the_onnx_gives_the_same_labels(model, bgr, reference, tmp_path):
    pytest.importorskip("onnxruntime")
    result = model.export(output=tmp_path / "cgnet.onnx", size=(96, 128), parity_data="synthetic:2")
    with edgeseg.load(result.path, threads=1) as onnx_model:
        assert onnx_model.backend == "onnxruntime"
        agree = (onnx_model.predict(bgr, color="bgr").labels == reference).mean()
    assert agree > 0.99


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_opens_with_the_example_and_it_runs_as_written(tmp_path, monkeypatch, capsys):
    import cv2

    text = (ROOT / "README.md").read_text()
    first_fence = text.index("```")
    assert text[first_fence:].startswith("```python"), "the README's first code block is the Python example"
    block = readme_python_blocks()[0]
    assert len([l for l in block.splitlines() if l.strip() and not l.startswith("#")]) <= 5
    images = set(re.findall(r"\"([\w.]+\.(?:jpg|png))\"", block))
    monkeypatch.chdir(tmp_path)
    for name in images:  # the example's input image: a street frame written where it expects it
        if "overlay" not in name:
            cv2.imwrite(name, _frame())
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Road" in out or "Building" in out
    written = [n for n in images if "overlay" in n]
    assert written and all((tmp_path / n).is_file() for n in written)


def test_the_runners_and_the_bench_worker_do_not_import_torch():
    """A bench row's memory baseline and an ONNX/OpenVINO app's start-up: opening the backends registry
    (what the bench worker imports before it measures its baseline) must not pull in torch (190 MB,
    ~1 s; it did when the ONNX Runtime backend imported edgeseg.quant at module level)."""
    code = (
        "import sys, edgeseg.backends, edgeseg.bench._worker, edgeseg.bench.measure, edgeseg.runner; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "False"
