import json

import pytest

from edgeseg.card import ModelCard, card_from_onnx, card_to_onnx, read_sidecar, sidecar_path
from edgeseg.errors import EdgesegError


def test_roundtrip_dict_and_json(camvid_card):
    d = camvid_card.to_dict()
    json.dumps(d)  # plain JSON types only
    assert ModelCard.from_dict(d) == camvid_card
    assert ModelCard.from_json(camvid_card.to_json()) == camvid_card


@pytest.mark.parametrize(
    "change, words",
    [
        ({"palette": ((0, 0, 0),)}, "palette"),
        ({"class_names": ("a",)}, "class names"),
        ({"ignore_index": 3}, "collides"),
        ({"precision": "int4"}, "precision"),
        ({"channel_order": "RGBA"}, "channel_order"),
        ({"std": (1.0, 0.0, 1.0)}, "std"),
    ],
)
def test_invalid_cards_say_what_is_wrong(camvid_card, change, words):
    with pytest.raises(EdgesegError, match=words):
        camvid_card.replace(**change)


def test_newer_card_version_refused(camvid_card):
    d = camvid_card.to_dict()
    d["version"] = 99
    with pytest.raises(EdgesegError, match="newer"):
        ModelCard.from_dict(d)


def test_missing_fields_named():
    with pytest.raises(EdgesegError, match="lacks.*palette"):
        ModelCard.from_dict({"arch": "cgnet", "num_classes": 1, "class_names": ["a"]})


def test_sidecar_roundtrip_and_missing(tmp_path, camvid_card):
    art = tmp_path / "model.engine"
    art.write_bytes(b"x")
    with pytest.raises(EdgesegError, match="no model card"):
        read_sidecar(art)
    camvid_card.write_sidecar(art)
    assert sidecar_path(art).name == "model.engine.card.json"
    assert read_sidecar(art) == camvid_card


def test_onnx_metadata_roundtrip(camvid_card):
    import onnx

    m = onnx.ModelProto()
    card_to_onnx(m, camvid_card)
    card_to_onnx(m, camvid_card.replace(precision="int8"))  # replaces, does not duplicate
    assert len(m.metadata_props) == 1
    assert card_from_onnx(m).precision == "int8"
    with pytest.raises(EdgesegError, match="no edgeseg model card"):
        card_from_onnx(onnx.ModelProto())


@pytest.mark.parametrize(
    "key,value,want",
    [
        ("mean", ["a", "b", "c"], "'mean' must be three finite numbers"),
        ("mean", [1.0, float("nan"), 2.0], "'mean' must be three finite numbers"),
        ("num_classes", "11", "'num_classes' must be a whole number"),
        ("num_classes", True, "'num_classes' must be a whole number"),
        ("palette", [[1, 2]], "'palette' must be a list of \\[R, G, B\\]"),
        ("version", "x", "'version' must be a whole number"),
        ("extra", [], "'extra' must be a mapping"),
    ],
)
def test_a_card_of_the_wrong_types_is_one_line(key, value, want):
    """A card whose mean held strings ended in a traceback: one schema with types now."""
    import json
    from pathlib import Path

    from edgeseg.card import ModelCard
    from edgeseg.errors import EdgesegError

    d = json.loads(
        (Path(__file__).resolve().parents[1] / "edgeseg/weights/cgnet_camvid.pt.card.json").read_text()
    )
    d[key] = value
    with pytest.raises(EdgesegError, match=want):
        ModelCard.from_dict(d, where="m.pt")
