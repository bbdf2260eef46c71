"""Source specs -> (kind, cv2 arguments, live): indexes, devices, URLs, CSI templates, gst passthrough,
files."""

from __future__ import annotations

import os

import pytest

from edgeseg.camera.sources import (
    CAP_ANY,
    CAP_FFMPEG,
    CAP_GSTREAMER,
    CAP_V4L2,
    CSI_TEMPLATE,
    csi_pipeline,
    parse_source,
)
from edgeseg.errors import EdgesegError


def test_cv2_constants_match_opencv():
    import cv2

    assert (CAP_ANY, CAP_V4L2, CAP_GSTREAMER, CAP_FFMPEG) == (
        cv2.CAP_ANY,
        cv2.CAP_V4L2,
        cv2.CAP_GSTREAMER,
        cv2.CAP_FFMPEG,
    )


@pytest.mark.parametrize("spec,index", [("0", 0), ("3", 3), (2, 2)])
def test_camera_index(spec, index):
    s = parse_source(spec)
    assert (s.kind, s.args, s.live) == ("index", (index, CAP_ANY), True)


def test_v4l2_device():
    s = parse_source("/dev/video1")
    assert (s.kind, s.args, s.live) == ("device", ("/dev/video1", CAP_V4L2), True)


@pytest.mark.parametrize(
    "url", ["rtsp://10.0.0.2:8554/cam", "RTSP://host/a?b=1&c=2", "http://cam.local/mjpg", "rtsps://h/x"]
)
def test_stream_urls_go_to_ffmpeg_live(url):
    s = parse_source(url)
    assert (s.kind, s.args, s.live) == ("url", (url, CAP_FFMPEG), True)


def test_unknown_scheme_is_refused():
    with pytest.raises(EdgesegError, match="unsupported source scheme"):
        parse_source("ftp://host/clip.mp4")


def test_csi_template_with_defaults_and_options():
    s = parse_source("csi://1", width=1920, height=1080, fps=60, flip=2)
    assert s.kind == "csi" and s.live and s.args[1] == CAP_GSTREAMER
    assert s.args[0] == CSI_TEMPLATE.format(sensor=1, width=1920, height=1080, fps=60, flip=2)
    assert s.args[0].startswith(
        "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1920,height=1080,framerate=60/1"
    )
    assert s.args[0].endswith("appsink drop=true max-buffers=1")
    d = parse_source("csi://0")
    assert "width=1280,height=720,framerate=30/1" in d.args[0] and "flip-method=0" in d.args[0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"width": 99999}, "width must be in"),
        ({"height": 0}, "height must be in"),
        ({"fps": "30 ! filesink location=/etc/x"}, "fps must be an integer"),
        ({"flip": 8}, "flip must be in"),
        ({"width": True}, "width must be an integer"),
    ],
)
def test_csi_options_are_validated(kwargs, match):
    with pytest.raises(EdgesegError, match=match):
        parse_source("csi://0", **kwargs)


@pytest.mark.parametrize("spec", ["csi://", "csi://0 ! filesink location=x", "csi://99", "csi://a"])
def test_csi_sensor_id_is_validated(spec):
    with pytest.raises(EdgesegError, match="csi"):
        parse_source(spec)


def test_csi_pipeline_function_checks_every_field():
    assert "sensor-id=3" in csi_pipeline(sensor=3, width=640, height=480, fps=15, flip=0)
    with pytest.raises(EdgesegError):
        csi_pipeline(sensor=16, width=640, height=480, fps=15, flip=0)


def test_csi_options_refused_for_other_kinds():
    with pytest.raises(EdgesegError, match="only apply to csi"):
        parse_source("clip.mp4", width=640)


def test_gst_pipeline_is_passed_through_verbatim():
    pipe = "v4l2src device=/dev/video0 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true"
    s = parse_source("gst:" + pipe)
    assert (s.kind, s.args, s.live) == ("gst", (pipe, CAP_GSTREAMER), True)


@pytest.mark.parametrize("spec,match", [("gst:", "empty"), ("gst:videotestsrc ! autovideosink", "appsink")])
def test_gst_pipeline_needs_appsink(spec, match):
    with pytest.raises(EdgesegError, match=match):
        parse_source(spec)


@pytest.mark.parametrize(
    "name",
    [
        "clip.mp4",
        "my clip; rm -rf ~.mp4",
        "$(reboot).avi",
        "a|b&c`d`.mkv",
        "concat:a.mp4|b.mp4",
        "./0",
        "-1",
        "/dev/video0x",
    ],
)
def test_anything_else_is_a_file_made_absolute(name):
    s = parse_source(name)
    assert s.kind == "file" and not s.live
    assert s.args == (os.path.abspath(name), CAP_FFMPEG)
    assert os.path.isabs(s.args[0])  # FFmpeg cannot read 'concat:' etc. as a protocol


@pytest.mark.parametrize("spec", ["", "   ", None])
def test_empty_source_is_refused(spec):
    with pytest.raises(EdgesegError, match="expected a source"):
        parse_source(spec)
