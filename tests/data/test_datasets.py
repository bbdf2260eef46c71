import cv2
import numpy as np
import pytest

from edgeseg.data.datasets import camvid, folder, open_dataset
from edgeseg.data.image import read_image, read_label
from edgeseg.errors import DataError


def test_camvid_layout_reads_pairs(tiny_camvid):
    ds = camvid(tiny_camvid, "train")
    assert len(ds) == 6
    img, lab = ds[0]
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert lab.shape == (48, 64) and lab.max() == 11
    assert len(camvid(tiny_camvid, "trainval")) == 8


def test_missing_file_named(tiny_camvid):
    (tiny_camvid / "train" / "f002.png").unlink()
    with pytest.raises(DataError, match=r"train.txt:3: file not found.*f002.png"):
        camvid(tiny_camvid, "train")


def test_size_mismatch_named(tiny_camvid):
    cv2.imwrite(str(tiny_camvid / "trainannot" / "f001.png"), np.zeros((10, 10), np.uint8))
    ds = camvid(tiny_camvid, "train")
    with pytest.raises(DataError, match="f001.png: label is 10x10 but its image"):
        ds[1]


def test_bad_label_ids_error_or_counted_ignore(tiny_camvid):
    lab = np.full((48, 64), 3, np.uint8)
    lab[:2, :5] = 200
    cv2.imwrite(str(tiny_camvid / "trainannot" / "f000.png"), lab)
    with pytest.raises(DataError, match=r"label ids \[200\] outside 0..10"):
        camvid(tiny_camvid, "train")[0]
    ds = camvid(tiny_camvid, "train", bad_labels="ignore")
    with pytest.warns(UserWarning, match="mapped to ignore"):
        _, out = ds[0]
    assert ds.bad_label_pixels == 10 and (out[:2, :5] == 11).all()


@pytest.mark.parametrize("line", ["../evil.png trainannot/f000.png", "/etc/passwd trainannot/f000.png"])
def test_paths_escaping_root_refused(tiny_camvid, line):
    (tiny_camvid / "train.txt").write_text(line + "\n")
    with pytest.raises(DataError, match="escapes the dataset root|absolute path"):
        camvid(tiny_camvid, "train")


def test_symlink_out_of_root_refused(tiny_camvid, tmp_path):
    outside = tmp_path / "outside.png"
    cv2.imwrite(str(outside), np.zeros((4, 4, 3), np.uint8))
    (tiny_camvid / "train" / "link.png").symlink_to(outside)
    (tiny_camvid / "train.txt").write_text("train/link.png trainannot/f000.png\n")
    with pytest.raises(DataError, match="escapes"):
        camvid(tiny_camvid, "train")


def test_empty_list_and_bad_lines(tiny_camvid):
    (tiny_camvid / "train.txt").write_text("\n# nothing\n")
    with pytest.raises(DataError, match="empty"):
        camvid(tiny_camvid, "train")
    (tiny_camvid / "train.txt").write_text("only_one_field.png\n")
    with pytest.raises(DataError, match="expected 'image label'"):
        camvid(tiny_camvid, "train")


def test_open_dataset_specs(tiny_camvid, tmp_path):
    assert len(open_dataset(f"camvid:{tiny_camvid}", "val")) == 2
    with pytest.raises(DataError, match="unknown kind"):
        open_dataset(f"kitti:{tiny_camvid}")
    with pytest.raises(DataError, match="not found"):
        open_dataset(f"camvid:{tmp_path / 'missing'}")
    with pytest.raises(DataError, match="expected KIND:PATH"):
        open_dataset("camvid")
    with pytest.raises(DataError, match="whole number"):
        open_dataset("synthetic:abc")


def test_folder_layout(tmp_path):
    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "labels").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "train" / "images" / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "train" / "labels" / "a.png"), np.zeros((8, 8), np.uint8))
    assert len(folder(tmp_path, "train")) == 1


def test_colour_and_jpeg_labels_rejected(tmp_path):
    rgb = tmp_path / "rgb.png"
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 2] = 128
    cv2.imwrite(str(rgb), img)
    with pytest.raises(DataError, match="colour channels"):
        read_label(rgb)
    jpg = tmp_path / "l.jpg"
    cv2.imwrite(str(jpg), np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="JPEG"):
        read_label(jpg)


def test_huge_image_refused_before_decoding(tmp_path, media):
    p = tmp_path / "huge.png"
    media.png_header_only(p, 20000, 20000)  # would decode to 1.2 GB
    with pytest.raises(DataError, match="more pixels than the limit|400,000,000 pixels"):
        read_image(p)


def test_large_but_not_bomb_image_refused_by_our_limit(tmp_path, media):
    p = tmp_path / "big.png"
    media.png_header_only(p, 10000, 9000)  # 90 M pixels: under PIL's bomb limit, over ours (64 M)
    with pytest.raises(DataError, match="90,000,000 pixels, more than the limit of 64,000,000"):
        read_image(p)


def test_unreadable_and_zero_size(tmp_path, media):
    p = tmp_path / "x.png"
    p.write_bytes(b"not an image")
    with pytest.raises(DataError, match="not a readable image"):
        read_image(p)
    z = tmp_path / "z.png"
    media.png_header_only(z, 0, 5)
    with pytest.raises(DataError):
        read_image(z)


def test_cityscapes_layout(tmp_path):
    from edgeseg.data.datasets import cityscapes

    img_dir = tmp_path / "leftImg8bit" / "val" / "aachen"
    lab_dir = tmp_path / "gtFine" / "val" / "aachen"
    img_dir.mkdir(parents=True)
    lab_dir.mkdir(parents=True)
    cv2.imwrite(str(img_dir / "aachen_000000_000019_leftImg8bit.png"), np.zeros((16, 32, 3), np.uint8))
    lab = np.full((16, 32), 255, np.uint8)
    lab[:8] = 18
    cv2.imwrite(str(lab_dir / "aachen_000000_000019_gtFine_labelTrainIds.png"), lab)
    ds = cityscapes(tmp_path, "val")
    assert ds.info.num_classes == 19 and ds.info.ignore_index == 255
    img, out = ds[0]
    assert img.shape == (16, 32, 3) and set(np.unique(out)) == {18, 255}
    (lab_dir / "aachen_000000_000019_gtFine_labelTrainIds.png").unlink()
    with pytest.raises(DataError, match="labelTrainIds"):
        cityscapes(tmp_path, "val")
