"""FCN, DeepLab v3 and PSPNet on the shared backbone; PSP pooling that exports."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeseg.export.onnx import export_onnx
from edgeseg.models import build_model
from edgeseg.models.classics import adaptive_avg_pool2d_exportable, adaptive_pool_matrix

CLASSICS = ("fcn", "deeplabv3", "pspnet")


@pytest.mark.parametrize(("h", "w"), [(8, 12), (9, 13), (45, 60), (5, 7), (1, 1), (2, 3)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_export_path_of_psp_pooling_equals_adaptive_pooling(h, w, bins, monkeypatch):
    x = torch.randn(2, 4, h, w)
    want = F.adaptive_avg_pool2d(x, bins)
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    got = adaptive_avg_pool2d_exportable(x, bins)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_pool_matrix_rows_are_averages_over_overlapping_windows():
    m = adaptive_pool_matrix(8, 3)  # windows [0,3), [2,6), [5,8)
    np.testing.assert_allclose(m.sum(1), 1.0, rtol=1e-6)
    assert (m > 0).sum(1).tolist() == [3, 4, 3]


def test_classics_share_one_backbone_at_output_stride_8():
    models = {n: build_model(n, num_classes=11) for n in CLASSICS}
    keys = {n: [k for k in m.state_dict() if k.startswith("backbone.")] for n, m in models.items()}
    assert keys["fcn"] == keys["deeplabv3"] == keys["pspnet"] and keys["fcn"]
    assert all(m.backbone.output_stride == 8 for m in models.values())
    seen = {}
    m = models["fcn"].eval()
    h = m.head.register_forward_hook(lambda mod, i, o: seen.__setitem__("in", i[0]))
    with torch.no_grad():
        m(torch.randn(1, 3, 64, 96))
    h.remove()
    assert seen["in"].shape == (1, 320, 8, 12)


def test_deeplabv3_uses_full_atrous_convs_and_no_decoder():
    m = build_model("deeplabv3", num_classes=11)
    aspp = m.head[0]
    atrous = [b[0] for b in aspp.branches[1:4]]
    assert [c.dilation[0] for c in atrous] == [12, 24, 36]
    assert all(c.groups == 1 and c.kernel_size == (3, 3) for c in atrous)
    assert not hasattr(m, "decoder")


def test_pspnet_pyramid_bins_and_export_uses_no_frozen_pooling(eval_model, camvid_card, tmp_path):
    model = eval_model("pspnet")
    ppm = model.head[0]
    assert ppm.bins == (1, 2, 3, 6)
    assert ppm.out_channels == 320 + 4 * 80
    path = export_onnx(model, camvid_card("pspnet"), tmp_path / "psp.onnx", size=(64, 96), dynamic=True)
    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops["MatMul"] == 2 * 3 and ops["AveragePool"] == 0 and ops["ReduceMean"] == 1
    # its pooling matrices are fixed to the exported size: another size fails loudly, never silently
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime raises its own exception types
        sess.run(None, {"input": np.zeros((1, 3, 128, 192), np.float32)})


@pytest.mark.parametrize("name", CLASSICS)
def test_classic_heads_use_dropout_0_1(name):
    drops = [m.p for m in build_model(name, num_classes=11).modules() if isinstance(m, nn.Dropout)]
    assert drops and all(p == pytest.approx(0.1) for p in drops)
