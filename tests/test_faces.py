"""snnfer.data.faces.FaceAligner on a real face photograph (scikit-image's astronaut)."""

from __future__ import annotations

import numpy as np
import pytest

from snnfer.data.faces import FaceAligner
from snnfer.errors import ArgumentError, FaceNotFoundError, InputDtypeError, InputShapeError
from tests.conftest import require

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def astronaut():
    """Eileen Collins' NASA portrait (public domain), shipped inside scikit-image."""
    return require("skimage.data").astronaut()


@pytest.fixture(scope="module")
def upright_eyes(astronaut):
    det = FaceAligner().detect(astronaut)
    assert det is not None and det.eyes is not None
    return np.array(det.eyes)


def _rotate(img: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE), m


def _eye_line_deg(points: np.ndarray) -> float:
    (x0, y0), (x1, y1) = points
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


def test_detects_face_and_both_eyes(astronaut, upright_eyes):
    det = FaceAligner().detect(astronaut)
    # the face of the portrait spans about x 175-275, y 65-160 (512 x 512 image)
    assert 200 < det.center[0] < 250 and 90 < det.center[1] < 140
    assert 80 < det.size < 120
    (lx, ly), (rx, ry) = upright_eyes
    assert lx < rx and 30 < rx - lx < 60 and abs(ry - ly) < 10


@pytest.mark.parametrize("angle", [0.0, 12.0, -12.0, 30.0, -35.0])
def test_rotated_face_comes_out_with_horizontal_eye_line(astronaut, upright_eyes, angle):
    rotated, m = _rotate(astronaut, angle)
    # ground truth: the eye centres of the upright photo, moved by the same rotation
    true_eyes = np.c_[upright_eyes, np.ones(2)] @ m.T
    assert abs(_eye_line_deg(true_eyes)) > abs(angle) - 6  # the input is really tilted
    aligner = FaceAligner(size=112)
    out_eyes = aligner.fit(rotated[None]).map_points(true_eyes)
    assert abs(_eye_line_deg(out_eyes)) < 3.0
    # eyes symmetric about the vertical centre line, in the upper half of the crop
    assert abs(out_eyes[:, 0].mean() - 56) < 6 and 25 < out_eyes[:, 1].mean() < 56
    # and the aligned crop looks like the aligned upright photo, much more than the same crop
    # without the rotation does (the face box size varies ~10% between detections)
    transform = aligner.fit(rotated[None])
    ref = aligner(astronaut[None])[0].ravel().astype(float)
    got = aligner(rotated[None])[0].ravel().astype(float)
    centre = np.linalg.solve(transform.matrix[:, :2], 56 - transform.matrix[:, 2])
    side = 112 / np.hypot(*transform.matrix[0, :2])
    unrotated = aligner.transform_for(*centre, side, 0.0).apply(
        cv2.cvtColor(rotated, cv2.COLOR_RGB2GRAY)[None])[0].ravel().astype(float)
    corr_aligned = np.corrcoef(ref, got)[0, 1]
    assert corr_aligned > 0.75
    if angle:
        assert corr_aligned > np.corrcoef(ref, unrotated)[0, 1] + 0.15


def test_one_stabilised_crop_per_clip(astronaut):
    # a clip whose face disappears after the first frames: the crop is fixed by the first
    # frames, so the rest of the clip is warped with the same transform (no error, no jump)
    clip = np.stack([astronaut] * 4 + [np.full_like(astronaut, 128)] * 3)
    out = FaceAligner(size=64, detect_frames=3)(clip)
    assert out.shape == (7, 64, 64) and out.dtype == np.uint8
    assert all(np.array_equal(out[0], out[i]) for i in range(1, 4))
    assert np.all(out[4:] == 128)
    # small detector jitter is median-filtered: shifting 2 of 5 frames keeps the transform
    shifted = np.roll(astronaut, 9, axis=1)
    clip = np.stack([astronaut, shifted, astronaut, shifted, astronaut])
    al = FaceAligner(size=64, detect_frames=5)
    np.testing.assert_allclose(al.fit(clip).matrix, al.fit(astronaut[None]).matrix)


def test_face_found_later_in_clip_and_color_output(astronaut):
    blank = np.full_like(astronaut, 90)
    clip = np.stack([blank, blank, astronaut, astronaut, astronaut, astronaut])
    out = FaceAligner(size=48, grayscale=False, detect_frames=2)(clip)
    assert out.shape == (6, 48, 48, 3)
    gray = FaceAligner(size=48, detect_frames=2)(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[None])
    assert gray.shape == (1, 48, 48)


def test_margin_controls_crop_scale(astronaut, upright_eyes):
    tight = FaceAligner(margin=0.0).fit(astronaut[None]).map_points(upright_eyes)
    loose = FaceAligner(margin=0.5).fit(astronaut[None]).map_points(upright_eyes)
    # crop side is (1 + 2 margin) face widths: eye distance shrinks by 1 / 2
    ratio = np.ptp(loose[:, 0]) / np.ptp(tight[:, 0])
    assert ratio == pytest.approx(0.5, rel=1e-6)


# -- bad input ----------------------------------------------------------------------------
def test_no_face_raises_typed_error_naming_the_clip():
    noise = np.random.default_rng(0).integers(0, 256, (3, 96, 96), dtype=np.uint8)
    with pytest.raises(FaceNotFoundError, match="no face found in clip_07.mp4"):
        FaceAligner(detect_frames=2)(noise, source="clip_07.mp4")


def test_bad_frames_and_arguments():
    al = FaceAligner()
    with pytest.raises(InputShapeError, match=r"\[N, H, W\]"):
        al(np.zeros((96, 96), np.uint8))
    with pytest.raises(InputShapeError):
        al(np.zeros((0, 96, 96), np.uint8))
    with pytest.raises(InputDtypeError, match="uint8"):
        al(np.zeros((1, 96, 96), np.float32))
    with pytest.raises(ArgumentError, match="margin"):
        FaceAligner(margin=-0.1)
    with pytest.raises(ArgumentError, match="size"):
        FaceAligner(size=4)
