"""load_bbox_file: every format, the key aliases and the warnings."""
import json

import numpy as np
import pytest

from mmhuman_imphmr.apis.bbox_files import (frame_aliases, image_aliases,
                                            load_bbox_file)


def _write(tmp_path, data, name='boxes.json'):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_own_format_and_unused_key_warning(tmp_path):
    table = load_bbox_file(
        _write(tmp_path, {
            'img_001.jpg': [10, 20, 30, 40],
            'persn.png': [[0, 0, 5, 5]]
        }))
    np.testing.assert_array_equal(
        table.lookup(image_aliases('img_001.jpg')), [[10, 20, 30, 40]])
    assert table.lookup(image_aliases('person.png')) is None
    with pytest.warns(UserWarning, match=r"persn.*did you mean \"person"):
        assert table.warn_unused(['person.png']) == ['persn']
    with pytest.raises(ValueError, match='"a.jpg"'):
        load_bbox_file(_write(tmp_path, {'a.jpg': [[1, 2, 3]]}))


def test_coco_detections(tmp_path):
    dets = [
        dict(image_id=397133, bbox=[1, 2, 3, 4], score=0.9, category_id=1),
        dict(image_id=397133, bbox=[5, 6, 7, 8], score=0.1, category_id=1),
        dict(image_id=397133, bbox=[9, 9, 9, 9], score=0.9, category_id=3),
        dict(image_id=2, bboxes=[0, 0, 1, 1], bbox=[0, 0, 2, 2], score=1.0),
    ]
    with pytest.warns(UserWarning, match=r"unknown key\(s\) \['bboxes'\]"):
        table = load_bbox_file(_write(tmp_path, dets), score_thr=0.3)
    # COCO file names are the zero-padded id; a low score and a car
    # (category 3) are dropped.
    np.testing.assert_array_equal(
        table.lookup(image_aliases('000000397133.jpg')), [[1, 2, 3, 4]])
    # Image 5 had only a low-score detection: no person (empty), which the
    # demo tells apart from no entry (None: the whole image).
    dets2 = dets[:3] + [dict(image_id=5, bbox=[0, 0, 1, 1], score=0.2)]
    empty = load_bbox_file(_write(tmp_path, dets2, 'b.json'), score_thr=0.3)
    assert empty.lookup(image_aliases('5.jpg')).shape == (0, 4)
    assert empty.lookup(image_aliases('6.jpg')) is None
    # An integer id is also a video's frame index.
    np.testing.assert_array_equal(
        table.lookup(frame_aliases('walk', 2)), [[0, 0, 2, 2]])
    with pytest.raises(ValueError, match='entry 0'):
        load_bbox_file(_write(tmp_path, [dict(image=1, bbox=[0, 0, 1, 1])]))


def test_coco_file_with_images(tmp_path):
    table = load_bbox_file(
        _write(
            tmp_path,
            dict(
                images=[dict(id=7, file_name='beach.jpg')],
                annotations=[
                    dict(image_id=7, bbox=[1, 1, 4, 8], category_id=1)
                ])))
    np.testing.assert_array_equal(
        table.lookup(image_aliases('beach.jpg')), [[1, 1, 4, 8]])


def test_mmpose_predictions(tmp_path):
    inst = dict(
        keypoints=[[0, 0]] * 17,
        keypoint_scores=[1.0] * 17,
        bbox=[[10, 20, 40, 100]],
        bbox_score=0.8)
    video = dict(
        meta_info={},
        instance_info=[
            dict(frame_id=1, instances=[inst]),
            dict(frame_id=2, instances=[dict(inst, bbox_score=0.1)])
        ])
    table = load_bbox_file(_write(tmp_path, video))
    # mmpose's demo counts frames from 1; xyxy becomes xywh.
    np.testing.assert_array_equal(
        table.lookup(frame_aliases('walk', 0)), [[10, 20, 30, 80]])
    # Frame 2 (index 1) had only a low-score box: no person, not "missing".
    assert table.lookup(frame_aliases('walk', 1)).shape == (0, 4)
    image = dict(meta_info={}, instance_info=[dict(inst, bbox_s=1)])
    with pytest.warns(UserWarning, match='bbox_s'):
        table = load_bbox_file(_write(tmp_path, image), single_image='a.jpg')
    assert table.lookup(image_aliases('a.jpg')).shape == (1, 4)
    with pytest.raises(ValueError, match='single --input image'):
        load_bbox_file(_write(tmp_path, image))


def _openpose(points):
    """OpenPose BODY_25 with the given (x, y, confidence), the rest unseen."""
    kp = np.zeros((25, 3))
    kp[:len(points)] = points
    return dict(
        version=1.3,
        people=[dict(person_id=[-1], pose_keypoints_2d=kp.ravel().tolist())])


def test_openpose_box_as_spin(tmp_path):
    # Visible: (10, 20), (30, 60), (20, 40); (500, 500) has confidence 0.1
    # (below SPIN's 0.2) and is ignored. SPIN: centre = mean = (20, 40),
    # side = largest extent (60 - 20 = 40) * 1.2 = 48.
    data = _openpose([(10, 20, 0.9), (30, 60, 0.5), (20, 40, 0.3),
                      (500, 500, 0.1)])
    table = load_bbox_file(
        _write(tmp_path, data, 'a_keypoints.json'), single_image='a.jpg')
    np.testing.assert_allclose(
        table.lookup(image_aliases('a.jpg')), [[-4, 16, 48, 48]], atol=1e-4)
    assert table.padding == 1.0  # already enlarged
    # A folder of OpenPose files of a video: OpenPose pads frame numbers to
    # 12 digits.
    folder = tmp_path / 'openpose'
    folder.mkdir()
    _write(folder, data, 'walk_000000000003_keypoints.json')
    table = load_bbox_file(str(folder))
    assert table.lookup(frame_aliases('walk', 3)).shape == (1, 4)
    assert table.lookup(frame_aliases('walk', 2)) is None
    with pytest.raises(ValueError, match='single --input image'):
        load_bbox_file(_write(tmp_path, data))
