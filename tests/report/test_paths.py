"""Rows named by their deployment path: backends in their own spelling, and no two INT8 paths named alike."""

from edgeseg.report.paths import describe


def _row(backend, precision, quantization=None, weights_from=None):
    card = {"extra": {"quantization": {"weights_from": weights_from}}} if weights_from else {}
    return {"id": "r", "backend": backend, "precision": precision, "quantization": quantization, "card": card}


def test_backends_are_named_as_their_specs_spell_them():
    from edgeseg.backends import BACKENDS

    assert describe(_row("executorch", "fp32")).name == "ExecuTorch FP32"
    assert describe(_row("coreml", "fp16")).name == "Core ML FP16"
    for name, spec in BACKENDS.items():
        if name != "torch":
            assert describe(_row(name, "fp32")).name.startswith(spec.title), name


def test_executorch_int8_is_not_called_the_ptq_model_and_its_two_sources_differ():
    ptq = describe(_row("executorch", "int8", "ptq xnnpack-pt2e"))
    qat = describe(_row("executorch", "int8", "qat xnnpack-pt2e"))
    qat_card = describe(_row("executorch", "int8", "ptq xnnpack-pt2e", weights_from="QAT checkpoint (...)"))
    ov = describe(_row("openvino", "int8", "ptq tensorrt-qdq"))
    assert ov.name == "OpenVINO INT8 from the PTQ model"
    assert "PTQ model" not in ptq.name and ptq.name.startswith("ExecuTorch INT8")
    assert qat.name == qat_card.name and "QAT" in qat.name
    assert len({ptq.name, qat.name, ov.name}) == 3 and len({ptq.short, qat.short, ov.short}) == 3


def test_a_labels_head_is_named_and_a_logits_one_is_not():
    def row(head):
        return {
            "id": "r",
            "backend": "openvino",
            "precision": "int8",
            "quantization": "qat tensorrt-qdq",
            "card": {"extra": {"head": head}} if head else {},
        }

    assert describe(row(None)) == describe(row("logits"))  # results from before heads read the same
    assert describe(row("logits")).name == "OpenVINO INT8 from the QAT model"
    assert describe(row("labels")).name == "OpenVINO INT8 from the QAT model, labels out"
    low = describe(row("labels-lowres"))
    assert low.name == "OpenVINO INT8 from the QAT model, low-res labels out" and low.short.endswith(
        " lab-lr"
    )


def test_cpu_placement_and_bf16_float_parts_are_named():
    def row(backend, flavour, bf16=False):
        extra = {"inference_precision": "bf16"} if bf16 else {}
        quant = f"qat {flavour}"
        return {
            "id": "r",
            "backend": backend,
            "precision": "int8",
            "quantization": quant,
            "card": {"extra": extra},
        }

    names = {
        describe(row("openvino", "tensorrt-qdq")).name,
        describe(row("openvino", "cpu-qdq")).name,
        describe(row("openvino", "cpu-qdq", bf16=True)).name,
        describe(row("onnxruntime", "cpu-qdq")).name,
    }
    assert names == {
        "OpenVINO INT8 from the QAT model",
        "OpenVINO INT8 from the QAT model, CPU placement",
        "OpenVINO INT8 from the QAT model, CPU placement, bf16 float parts",
        "ONNX Runtime INT8 (QAT, CPU Q/DQ placement)",
    }
    shorts = [
        describe(row(b, f, x)).short
        for b, f, x in (("openvino", "cpu-qdq", False), ("openvino", "cpu-qdq", True))
    ]
    assert len(set(shorts)) == 2
