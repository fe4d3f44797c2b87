"""Face alignment for FER clips: detect, rotate upright, crop, grayscale, resize.

Implements the preprocessing of the CS3D paper (cs3d.txt §IV-A): "facial landmark information
was used to crop the facial region ... a rotation operation was applied to align the facial
pose ... converted to grayscale ... resized to 112x112", with the Haar cascades shipped in
``opencv-python-headless`` 4.x (``cv2.data.haarcascades``) as the landmark source: the face
cascade gives the face box, the eye cascade the two eye centres, whose line is made
horizontal. One stabilised transform (medians over the first frames) is applied to the whole
clip, so the crop does not jitter from frame to frame and the DVS emulator does not see
detector noise as motion.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnfer.errors import (
    ArgumentError,
    FaceNotFoundError,
    InputDtypeError,
    InputShapeError,
    MissingDependencyError,
)
from snnfer.optional import require

__all__ = ["AlignmentTransform", "FaceAligner", "FaceDetection"]

_FACE_CASCADE = "haarcascade_frontalface_default.xml"
_EYE_CASCADE = "haarcascade_eye.xml"
_DETECT_MAX_SIDE = 480  # frames are downscaled to this for detection (speed)


@dataclass(frozen=True)
class FaceDetection:
    """One detected face in frame coordinates (pixels, y down).

    ``eyes`` holds the (x, y) centres of the image-left and image-right eye, or ``None`` when
    the eye cascade found no plausible pair; ``angle_deg`` is the eye-line angle
    (``atan2(dy, dx)``; positive = the image-right eye is lower), or the tilt implied by the
    rotation under which the face was found when no eye pair was found.
    """

    center: tuple[float, float]
    size: float
    angle_deg: float
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None


@dataclass(frozen=True)
class AlignmentTransform:
    """A 2x3 affine map from input-frame pixels to the ``size`` x ``size`` aligned crop."""

    matrix: np.ndarray
    size: int
    angle_deg: float

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """Map ``[K, 2]`` (x, y) frame points into crop coordinates."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """Warp uint8 ``[N, H, W]`` or ``[N, H, W, 3]`` frames into ``[N, size, size(, 3)]``."""
        cv2 = require("cv2", "data", "face alignment")
        matrix, scale = self.matrix.copy(), float(np.hypot(*self.matrix[0, :2]))
        # strong downscaling: area-average first (warpAffine only interpolates, which aliases)
        pre = min(1.0, 2.0 * scale)
        if pre < 1.0:
            matrix[:, :2] /= pre
        out = []
        for f in frames:
            if pre < 1.0:
                f = cv2.resize(f, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
            out.append(cv2.warpAffine(f, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE))
        return np.stack(out)


def _apply_affine(m: np.ndarray, p: tuple[float, float]) -> tuple[float, float]:
    x, y = m @ np.array([p[0], p[1], 1.0])
    return float(x), float(y)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        raise InputDtypeError(f"frames must be uint8, got {arr.dtype}")
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3) or arr.shape[0] == 0:
        raise InputShapeError(
            f"frames must be [N, H, W] or [N, H, W, 3] with N >= 1, got {tuple(arr.shape)}"
        )
    return arr


class FaceAligner:
    """Align the face of a clip: ``aligner(frames) -> [N, size, size]`` uint8.

    Args:
        size: output side in pixels (the CS3D paper uses 112).
        grayscale: output luma only (``[N, size, size]``); else RGB ``[N, size, size, 3]``.
        margin: extra border around the detected face box, as a fraction of its side on each
            side (0.2 -> the crop is 1.4 face widths wide).
        detect_frames: how many leading frames are searched; their detections are combined
            by median into one stabilised transform. If none of them shows a face, as many
            frames spread over the rest of the clip are tried before giving up.
        search_angles: in-plane rotations (degrees) tried when the upright detector finds no
            face, since Haar cascades only find faces tilted by less than ~15 degrees.
        min_face: smallest face side accepted, as a fraction of the frame's shorter side.
    """

    def __init__(
        self,
        size: int = 112,
        grayscale: bool = True,
        margin: float = 0.2,
        detect_frames: int = 5,
        search_angles: tuple[float, ...] = (0.0, -25.0, 25.0, -45.0, 45.0),
        min_face: float = 0.1,
    ):
        if size < 8:
            raise ArgumentError(f"size must be >= 8 pixels, got {size}")
        if not 0 <= margin <= 2:
            raise ArgumentError(f"margin must be in [0, 2] (fraction of the face side), got "
                                f"{margin}")
        if detect_frames < 1:
            raise ArgumentError(f"detect_frames must be >= 1, got {detect_frames}")
        if not 0 < min_face < 1:
            raise ArgumentError(f"min_face must be in (0, 1), got {min_face}")
        self.size, self.grayscale, self.margin = int(size), bool(grayscale), float(margin)
        self.detect_frames, self.min_face = int(detect_frames), float(min_face)
        self.search_angles = tuple(float(a) for a in search_angles) or (0.0,)
        self._cascades = None

    def __repr__(self) -> str:
        return (f"FaceAligner(size={self.size}, grayscale={self.grayscale}, "
                f"margin={self.margin}, detect_frames={self.detect_frames})")

    def __getstate__(self) -> dict:  # cascades are not picklable; reload in workers
        state = dict(self.__dict__)
        state["_cascades"] = None
        return state

    def _load(self):
        if self._cascades is None:
            cv2 = require("cv2", "data", "face alignment")
            root = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or ".")
            cascades = []
            for name in (_FACE_CASCADE, _EYE_CASCADE):
                clf = cv2.CascadeClassifier(str(root / name))
                if clf.empty():
                    raise MissingDependencyError(
                        f"opencv-python-headless<5 (Haar cascade {name})", "data",
                        f"face alignment (no {name} under {root})",
                    )
                cascades.append(clf)
            self._cascades = tuple(cascades)
        return self._cascades

    # -- detection -------------------------------------------------------------------------
    def detect(self, frame: np.ndarray) -> FaceDetection | None:
        """Detect the largest face and its eyes in one uint8 frame (gray or RGB)."""
        cv2 = require("cv2", "data", "face alignment")
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, _DETECT_MAX_SIDE / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        face_clf, _ = self._load()
        h, w = gray.shape
        min_side = max(12, int(self.min_face * min(h, w)))
        center = (w / 2.0, h / 2.0)
        for angle in self.search_angles:
            rot = cv2.getRotationMatrix2D(center, angle, 1.0)
            img = gray if angle == 0 else cv2.warpAffine(gray, rot, (w, h),
                                                         borderMode=cv2.BORDER_REPLICATE)
            faces = face_clf.detectMultiScale(img, 1.1, 5, minSize=(min_side, min_side))
            if len(faces) == 0:
                continue
            fx, fy, fw, fh = max(faces, key=lambda b: b[2] * b[3])
            inv = cv2.invertAffineTransform(rot) / scale  # rotated, downscaled -> frame
            back = functools.partial(_apply_affine, inv)
            eyes = self._eye_pair(img, fx, fy, fw, fh)
            # the face is upright in the image rotated counter-clockwise by `angle`, so in the
            # frame its eye line has the atan2 (y-down) angle `angle`
            tilt = angle
            if eyes is not None:
                left, right = back(eyes[0]), back(eyes[1])
                tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
                eyes = (left, right)
            return FaceDetection(center=back((fx + fw / 2.0, fy + fh / 2.0)),
                                 size=float(fw) / scale, angle_deg=tilt, eyes=eyes)
        return None

    def _eye_pair(self, img: np.ndarray, fx: int, fy: int, fw: int, fh: int):
        """Best (image-left, image-right) eye centres in the face's upper part, or None."""
        _, eye_clf = self._load()
        roi = img[fy:fy + int(0.6 * fh), fx:fx + fw]
        min_eye = max(6, fw // 10)
        cands = eye_clf.detectMultiScale(roi, 1.1, 4, minSize=(min_eye, min_eye),
                                         maxSize=(fw // 2, fw // 2))
        centres = [(fx + x + ew / 2.0, fy + y + eh / 2.0, ew) for x, y, ew, eh in cands]
        best, best_score = None, math.inf
        for a in centres:
            for b in centres:
                if not (a[0] < fx + fw / 2.0 < b[0]):
                    continue  # one eye in each half of the face
                dx, dy = b[0] - a[0], b[1] - a[1]
                if not 0.25 * fw < dx < 0.75 * fw or abs(dy) > 0.5 * dx:
                    continue
                # expected: eyes at about 30% / 70% of the width and 38% of the height
                score = (abs(a[0] - (fx + 0.3 * fw)) + abs(b[0] - (fx + 0.7 * fw))
                         + abs((a[1] + b[1]) / 2 - (fy + 0.38 * fh)) + abs(a[2] - b[2])) / fw
                if score < best_score:
                    best, best_score = ((a[0], a[1]), (b[0], b[1])), score
        return best

    # -- alignment -------------------------------------------------------------------------
    def fit(self, frames: np.ndarray, source: str | None = None) -> AlignmentTransform:
        """Detect on the first frames and return one stabilised transform for the clip.

        Raises :class:`FaceNotFoundError` naming ``source`` when no frame shows a face.
        """
        arr = _check_frames(frames)
        n = len(arr)
        first = list(range(min(n, self.detect_frames)))
        spread = [int(i) for i in np.linspace(0, n - 1, self.detect_frames + 2)[1:-1]]
        dets = [d for d in (self.detect(arr[i]) for i in first) if d is not None]
        if not dets:
            tried = sorted(set(spread) - set(first))
            dets = [d for d in (self.detect(arr[i]) for i in tried) if d is not None]
            first += tried
        if not dets:
            where = f" in {source}" if source else ""
            raise FaceNotFoundError(
                f"no face found{where}: the Haar face detector found nothing in {len(first)} "
                f"of {n} frames (checked frames {first}, rotations {list(self.search_angles)})"
            )
        with_eyes = [d for d in dets if d.eyes is not None]
        angle = float(np.median([d.angle_deg for d in (with_eyes or dets)]))
        cx = float(np.median([d.center[0] for d in dets]))
        cy = float(np.median([d.center[1] for d in dets]))
        side = float(np.median([d.size for d in dets])) * (1.0 + 2.0 * self.margin)
        return self.transform_for(cx, cy, side, angle)

    def transform_for(self, cx: float, cy: float, side: float, angle_deg: float
                      ) -> AlignmentTransform:
        """Affine map rotating by ``angle_deg`` about (cx, cy) and cropping a ``side`` square."""
        cv2 = require("cv2", "data", "face alignment")
        m = cv2.getRotationMatrix2D((cx, cy), angle_deg, self.size / side)
        m[:, 2] += (self.size / 2.0 - cx, self.size / 2.0 - cy)
        return AlignmentTransform(matrix=m, size=self.size, angle_deg=angle_deg)

    def __call__(self, frames: np.ndarray, source: str | None = None) -> np.ndarray:
        """Aligned clip: ``[N, size, size]`` (grayscale) or ``[N, size, size, 3]`` uint8."""
        arr = _check_frames(frames)
        transform = self.fit(arr, source)
        if self.grayscale and arr.ndim == 4:
            from snnfer.data.video import to_grayscale

            arr = to_grayscale(arr)
        elif not self.grayscale and arr.ndim == 3:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        return transform.apply(arr)
