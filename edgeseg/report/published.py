"""Published CamVid results, drawn as hollow reference markers beside our own points.

Each figure is the paper's own number (or, where said, the number another paper reports for it)
on the CamVid **test** split (233 frames, 11 classes, 360x480 unless noted). They are not comparable
one for one with ours: our points say their split (usually val) and training budget, the papers
train longer, often at other input sizes, and some start from ImageNet-pretrained backbones.

Checked against the authors' own repositories (2026-11-26): ENet 51.3, SegNet 55.6 and ESPNet 55.64
(the CamVid table in github.com/sacmehta/ESPNet's README), CGNet 65.6 (github.com/wutianyiRosun/CGNet:
train+val, 480x360, "14.3 % higher" than ENet's 51.3). BiSeNet, ICNet and DABNet are their papers'
CamVid-test figures as commonly tabled (DABNet's and BiSeNet's comparison tables); the papers were not
re-read here, so check them before quoting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedResult:
    """One published model: parameters (millions), mIoU (%), split and where the figure comes from."""

    name: str
    params_m: float
    miou: float
    split: str
    source: str
    note: str = ""


#: The explicit table (edit here, with a source, to add a point).
CAMVID_PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult(
        "CGNet M3N21",
        0.50,
        65.6,
        "test",
        "Wu et al., CGNet, IEEE TIP 2021 (arXiv:1811.08201)",
        "train+val, 360x480",
    ),
    PublishedResult("ENet", 0.37, 51.3, "test", "Paszke et al., ENet, arXiv:1606.02147 (2016)", "480x360"),
    PublishedResult(
        "ESPNet",
        0.36,
        55.64,
        "test",
        "Mehta et al., ESPNet, ECCV 2018; CamVid table of github.com/sacmehta/ESPNet",
        "480x360, CamVid train only",
    ),
    PublishedResult(
        "SegNet",
        29.5,
        55.6,
        "test",
        "Badrinarayanan et al., SegNet, TPAMI 2017 (as tabled by ESPNet's README)",
        "trained with an extra 3.5K-frame set",
    ),
    PublishedResult(
        "BiSeNet (Xception39)",
        5.8,
        65.6,
        "test",
        "Yu et al., BiSeNet, ECCV 2018 (arXiv:1808.00897)",
        "ImageNet-pretrained backbone, train+val, 960x720",
    ),
    PublishedResult(
        "ICNet",
        26.5,
        67.1,
        "test",
        "Zhao et al., ICNet, ECCV 2018 (arXiv:1704.08545)",
        "ImageNet-pretrained backbone, 960x720",
    ),
    PublishedResult(
        "DABNet", 0.76, 66.4, "test", "Li et al., DABNet, BMVC 2019 (arXiv:1907.11357)", "train+val, 360x480"
    ),
)


def published_points(dataset: str = "camvid") -> tuple[PublishedResult, ...]:
    """The published reference points for ``dataset`` (only CamVid has a table; others get none)."""
    return CAMVID_PUBLISHED if dataset.lower().startswith("camvid") else ()
