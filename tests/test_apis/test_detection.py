"""OpenCVPersonDetector on real photographs shipped inside packages.

The expected boxes were drawn by hand on the photos (pixel coordinates of
the original image), independently of the detector: a detection counts when
its IoU with them is at least 0.5.
"""
import os.path as osp

import cv2
import numpy as np
import pytest

from mmhuman_imphmr.apis.detection import OpenCVPersonDetector


def _iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _grace_hopper():
    """matplotlib (a runtime dependency) ships this 512 x 600 portrait."""
    import matplotlib
    path = osp.join(matplotlib.get_data_path(), 'sample_data',
                    'grace_hopper.jpg')
    image = cv2.imread(path)
    assert image is not None, path
    return image


def test_face_cascade_finds_the_face_of_a_portrait():
    faces = OpenCVPersonDetector('face').face_boxes(_grace_hopper())['faces']
    # Forehead to chin, ear to ear, drawn by hand.
    face = [160, 130, 210, 200]
    assert len(faces) >= 1
    assert max(_iou(f, face) for f in faces) >= 0.5


def test_default_detector_on_the_astronaut_photo():
    skimage_data = pytest.importorskip('skimage.data')
    image = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    found = OpenCVPersonDetector()(image)
    # Eileen Collins, hair to the bottom edge (the photo ends at her chest).
    person = [20, 20, 360, 492]
    ious = [_iou(b, person) for b in found['boxes']]
    assert ious and max(ious) >= 0.5, found
    # HOG alone misses this half-body portrait; the face cascade finds her.
    assert found['sources'][int(np.argmax(ious))] == 'face'
    assert (found['boxes'][:, :2] >= 0).all()
    assert (found['boxes'][:, 0] + found['boxes'][:, 2] <= 512).all()


def test_hog_finds_the_cameraman():
    skimage_data = pytest.importorskip('skimage.data')
    image = cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR)
    found = OpenCVPersonDetector('hog')(image)
    # The man from the top of his head to the bottom edge, without the
    # tripod.
    person = [0, 60, 310, 452]
    assert max((_iou(b, person) for b in found['boxes']), default=0) >= 0.5


def test_nobody_on_a_plain_image_and_bad_method():
    blank = np.full((240, 320, 3), 128, np.uint8)
    found = OpenCVPersonDetector()(blank)
    assert found['boxes'].shape == (0, 4) and found['sources'] == []
    with pytest.raises(ValueError, match="'hgo'"):
        OpenCVPersonDetector('hgo')
