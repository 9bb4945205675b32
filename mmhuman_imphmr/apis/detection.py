"""A person detector that needs no downloaded weights (OpenCV's own models).

The demo's default when no boxes are given. Two detectors that ship inside
the ``opencv-python`` wheel are combined:

* OpenCV's HOG + linear SVM people detector
  (``cv2.HOGDescriptor_getDefaultPeopleDetector``, Dalal & Triggs): upright
  full bodies about 96 pixels tall or more in a 64 x 128 window. It misses
  portraits and half bodies and fires on upright textures (measured on the
  photos of ``skimage.data`` and matplotlib, see the README's demo section);
* OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default``),
  whose face box is extended to a body box with a head-to-body prior. It
  finds the people of portraits and half-body photographs that HOG misses.

Faces inside a HOG box are the same person and are dropped. This is a
fallback for trying the demo: boxes from a real detector (mmdet, passed
with ``--bbox-file``) are far better.
"""
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np

# Assumption (no reference fixes it; tuned on the five photos of the README):
# HOG runs on the image resized so that its longer side is each of these
# many pixels (160: a person filling the frame; 400: people down to a
# quarter of the frame; small images get enough pixels for the 64 x 128
# window), padded by this fraction of that side, so that a person filling
# the frame still fits the window, whose body is ~96 of its 128 pixels.
HOG_SIDES = (160, 400)
HOG_BORDER = 0.2
# Assumption: head-to-body prior of a standing adult (~7.5 head heights);
# the body box spans from half a face above the face to 8 faces below it,
# 3.5 faces wide, clipped to the image (portraits end at the frame).
FACE_BODY_HEIGHT = 8.0
FACE_BODY_WIDTH = 3.5

METHODS = ('hog+face', 'hog', 'face')


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by non-maximum suppression of ``xywh`` boxes."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.0, iou)
    return np.asarray(keep, np.int64).reshape(-1)


def _clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``xywh`` boxes to the image."""
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    return np.stack([x0, y0, x1 - x0, y1 - y0], 1).astype(np.float32)


class OpenCVPersonDetector:
    """People in a BGR image from OpenCV's HOG detector and face cascade.

    Args:
        method (str): ``'hog+face'`` (default), ``'hog'`` or ``'face'``.
        hog_score_thr (float): Minimum HOG SVM score. Defaults to 0.5
            (tuned on the README photos and the synthetic val images:
            their false positives scored 0.32 and 0.34).
        min_face (int): Smallest face side in pixels. Defaults to 24.
        nms_iou (float): IoU of the final non-maximum suppression.
            Defaults to 0.45.
    """

    def __init__(self,
                 method: str = 'hog+face',
                 hog_score_thr: float = 0.5,
                 min_face: int = 24,
                 nms_iou: float = 0.45) -> None:
        if method not in METHODS:
            raise ValueError(f'OpenCVPersonDetector: method must be one of '
                             f'{METHODS}, found {method!r}')
        self.method = method
        self.hog_score_thr = float(hog_score_thr)
        self.min_face = int(min_face)
        self.nms_iou = float(nms_iou)
        self._hog = None
        self._face = None
        if 'hog' in method:
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(
                cv2.HOGDescriptor_getDefaultPeopleDetector())
        if 'face' in method:
            path = osp.join(cv2.data.haarcascades,
                            'haarcascade_frontalface_default.xml')
            self._face = cv2.CascadeClassifier(path)
            if self._face.empty():
                raise FileNotFoundError(
                    f'OpenCVPersonDetector: cannot load the face cascade '
                    f'{path} (it ships with opencv-python)')

    def hog_boxes(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """HOG detections: ``boxes`` ndarray[N, 4] xywh, ``scores`` [N]."""
        height, width = image.shape[:2]
        boxes, scores = [], []
        for side in HOG_SIDES:
            factor = side / float(max(height, width))
            small = cv2.resize(
                image, (max(1, round(
                    width * factor)), max(1, round(height * factor))),
                interpolation=cv2.INTER_AREA
                if factor < 1 else cv2.INTER_LINEAR)
            border = int(round(HOG_BORDER * side))
            small = cv2.copyMakeBorder(small, border, border, border, border,
                                       cv2.BORDER_REPLICATE)
            rects, weights = self._hog.detectMultiScale(
                small, winStride=(8, 8), padding=(16, 16), scale=1.05)
            rects = np.asarray(rects, np.float32).reshape(-1, 4)
            rects[:, :2] -= border
            boxes.append(rects / factor)
            scores.append(np.asarray(weights, np.float32).reshape(-1))
        boxes, scores = np.concatenate(boxes), np.concatenate(scores)
        keep = scores >= self.hog_score_thr
        return dict(
            boxes=_clip(boxes[keep], width, height), scores=scores[keep])

    def face_boxes(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Body boxes extended from frontal faces, and the faces."""
        height, width = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) \
            if image.ndim == 3 else image
        faces = self._face.detectMultiScale(
            cv2.equalizeHist(gray),
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(self.min_face, self.min_face))
        faces = np.asarray(faces, np.float32).reshape(-1, 4)
        side = faces[:, 3]
        body_w = FACE_BODY_WIDTH * faces[:, 2]
        bodies = np.stack([
            faces[:, 0] + faces[:, 2] / 2 - body_w / 2, faces[:, 1] - side / 2,
            body_w, FACE_BODY_HEIGHT * side
        ], 1)
        # The cascade has no calibrated score: faces rank below HOG boxes.
        return dict(
            boxes=_clip(bodies, width, height),
            faces=faces,
            scores=np.full(len(faces), 0.25, np.float32))

    def __call__(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Detect people.

        Args:
            image (ndarray[H, W, 3]): BGR uint8.

        Returns:
            dict: ``boxes`` ndarray[N, 4] (``x, y, w, h`` pixels, clipped
            to the image), ``scores`` [N] and ``sources`` list[str]
            (``'hog'`` or ``'face'``), best first.
        """
        boxes: List[np.ndarray] = []
        scores: List[np.ndarray] = []
        sources: List[str] = []
        if self._hog is not None:
            hog = self.hog_boxes(image)
            keep = _nms(hog['boxes'], hog['scores'], self.nms_iou)
            boxes.append(hog['boxes'][keep])
            scores.append(hog['scores'][keep])
            sources += ['hog'] * len(keep)
        if self._face is not None:
            face = self.face_boxes(image)
            held = np.concatenate(boxes) if boxes else np.zeros((0, 4))
            inside = [_face_inside(f, held) for f in face['faces']]
            keep = np.asarray([not i for i in inside], bool)
            boxes.append(face['boxes'][keep])
            scores.append(face['scores'][keep])
            sources += ['face'] * int(keep.sum())
        all_boxes = np.concatenate(boxes).astype(np.float32).reshape(-1, 4)
        all_scores = np.concatenate(scores).astype(np.float32).reshape(-1)
        keep = _nms(all_boxes, all_scores, self.nms_iou)
        area = all_boxes[keep, 2] * all_boxes[keep, 3]
        keep = keep[area > 0]
        return dict(
            boxes=all_boxes[keep],
            scores=all_scores[keep],
            sources=[sources[i] for i in keep])


def _face_inside(face: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether the face's centre lies in the upper half of one of ``boxes``."""
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    for x, y, w, h in boxes:
        if x <= cx <= x + w and y <= cy <= y + h / 2:
            return True
    return False


def detect_people(image: np.ndarray,
                  detector: Optional[OpenCVPersonDetector] = None
                  ) -> Dict[str, np.ndarray]:
    """:class:`OpenCVPersonDetector` ``('hog+face')`` on one BGR image."""
    return (detector or OpenCVPersonDetector())(image)
