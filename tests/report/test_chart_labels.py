"""Chart labels must not overlap each other (a crowded row of equal-mIoU points, as in the committed run)."""

import itertools

from edgeseg.report.charts import _annotate, _figure


def _label_boxes(ax):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    return {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}


def test_crowded_labels_do_not_overlap():
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    pts = [
        (13.7, 62.27, "ov-int8-qat"),
        (17.3, 62.28, "ort-fp32-opt"),
        (25.1, 62.28, "ort-fp16"),
        (28.0, 62.28, "ov-fp32"),
        (31.7, 62.28, "torch-fp32-nchw"),
        (38.8, 62.28, "torch-fp32-cl"),
        (45.9, 62.28, "ort-fp32"),
        (12.6, 61.27, "ov-int8-ptq"),
        (52.5, 61.03, "ort-int8-cpu"),
    ]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts])
    ax.margins(x=0.2, y=0.2)
    _annotate(ax, pts)
    boxes = _label_boxes(ax)
    assert set(boxes) == {p[2] for p in pts}
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        assert not ba.overlaps(bb), f"labels {a!r} and {b!r} overlap"


def test_a_lone_point_is_labelled_right_beside_it():
    fig = _figure(4, 3)
    ax = fig.add_subplot()
    ax.scatter([1.0], [2.0])
    _annotate(ax, [(1.0, 2.0, "only")])
    (box,) = _label_boxes(ax).values()
    px, py = ax.transData.transform((1.0, 2.0))
    assert box.x0 > px and abs((box.y0 + box.y1) / 2 - py) < box.height and not ax.texts[0].arrow_patch
