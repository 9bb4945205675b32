"""Person boxes from the files people already have.

:func:`load_bbox_file` reads, by content:

* the demo's own ``{"image_name": [[x, y, w, h], ...]}``;
* COCO-style detection results (mmdet ``--format-only`` / ``CocoMetric``
  output): a list of ``{"image_id", "bbox": [x, y, w, h], "score",
  "category_id"}``, or a COCO file with ``"images"`` and ``"annotations"``
  (``image_id`` then names ``images[i]["file_name"]``); only persons
  (``category_id`` 1) with ``score >= score_thr`` are kept;
* mmpose's ``--save-predictions`` file ``{"meta_info", "instance_info"}``
  (``bbox`` ``[[x1, y1, x2, y2]]``, ``bbox_score``; per video frame
  ``{"frame_id", "instances"}``, ``frame_id`` counted from 1 as mmpose's
  demo writes it);
* OpenPose ``--write_json`` keypoints ``{"people": [{"pose_keypoints_2d":
  [x, y, c, ...]}]}``, one file (``NAME_keypoints.json``) or a folder of
  them. As SPIN's ``bbox_from_openpose``: keypoints with confidence above
  0.2, a square around their mean whose side is their largest extent times
  1.2. Those boxes are already enlarged, so their padding is 1.

Keys are image file names, stems, integer ids (a COCO id names the image
whose stem is that number, or a video's frame index) or, for a video,
``"<video stem>_<frame index>"`` with any zero padding. Keys the loader does
not know are reported with a warning; so are entries no input matches
(:meth:`BoxTable.warn_unused`).
"""
import difflib
import json
import os
import os.path as osp
import warnings
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

Key = Union[str, int]
# Keys of one COCO detection / annotation, of an mmpose instance and of an
# OpenPose person: anything else is reported (a typo such as "bboxes").
COCO_KEYS = {
    'image_id', 'bbox', 'score', 'category_id', 'id', 'area', 'iscrowd',
    'segmentation', 'keypoints', 'num_keypoints'
}
MMPOSE_KEYS = {
    'keypoints', 'keypoint_scores', 'bbox', 'bbox_score', 'keypoints_visible',
    'track_id'
}
OPENPOSE_PERSON_KEYS = {
    'person_id', 'pose_keypoints_2d', 'face_keypoints_2d',
    'hand_left_keypoints_2d', 'hand_right_keypoints_2d', 'pose_keypoints_3d',
    'face_keypoints_3d', 'hand_left_keypoints_3d', 'hand_right_keypoints_3d'
}
COCO_PERSON = 1
# SPIN's bbox_from_openpose (demo.py): detection_thresh and rescale.
OPENPOSE_CONF_THR = 0.2
OPENPOSE_RESCALE = 1.2


class BoxTable:
    """Boxes per input key; remembers which keys were looked up.

    Args:
        boxes (dict): ``key -> ndarray[N, 4]`` (``x, y, w, h`` pixels).
        source (str): File the boxes came from (for messages).
        padding (float, optional): Enlargement that replaces the demo's
            ``--bbox-padding`` for these boxes (1 for OpenPose boxes, which
            are already enlarged); ``None`` keeps the demo's.
    """

    def __init__(self,
                 boxes: Dict[Key, np.ndarray],
                 source: str,
                 padding: Optional[float] = None) -> None:
        self.boxes = {_norm(k): v for k, v in boxes.items()}
        self.source = source
        self.padding = padding
        self._used = set()

    def lookup(self, aliases: Iterable[Key]) -> Optional[np.ndarray]:
        """The boxes of the first alias present, or ``None``."""
        for alias in aliases:
            key = _norm(alias)
            if key in self.boxes:
                self._used.add(key)
                return self.boxes[key]
        return None

    def warn_unused(self, examples: List[str]) -> List[Key]:
        """Warn about (and return) the keys no input looked up."""
        unused = [k for k in self.boxes if k not in self._used]
        if unused:
            names = [str(k) for k in unused]
            hint = difflib.get_close_matches(names[0], examples, n=1)
            warnings.warn(
                f'{self.source}: {len(unused)} key(s) match no input: '
                f'{names[:5]}{" ..." if len(names) > 5 else ""}; inputs are '
                f'named like {examples[:3]}' +
                (f' (did you mean "{hint[0]}"?)' if hint else ''))
        return unused


def _norm(key: Key) -> Key:
    """Integers (also digit strings) as ``int``; names without extension
    and OpenPose's ``_keypoints`` suffix."""
    if isinstance(key, (int, np.integer)):
        return int(key)
    key = str(key)
    if key.endswith('_keypoints.json'):
        key = key[:-len('_keypoints.json')]
    stem, ext = osp.splitext(key)
    if ext.lower() in ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif',
                       '.tiff', '.json'):
        key = stem
    return int(key) if key.isdigit() else key


def frame_aliases(video_stem: str, index: int) -> Tuple[Key, ...]:
    """Keys that name frame ``index`` of a video: ``walk_000012``,
    ``walk_000000000012`` (OpenPose), ``walk_12``, ``12``."""
    names = {
        f'{video_stem}_{index:06d}', f'{video_stem}_{index:012d}',
        f'{video_stem}_{index}'
    }
    return tuple(sorted(names)) + (index, )


def image_aliases(file_name: str) -> Tuple[Key, ...]:
    """Keys that name an image: ``img_001.jpg``, ``img_001`` (and the
    integer of a numeric COCO stem such as ``000000397133``)."""
    return (file_name, osp.splitext(file_name)[0])


def _warn_keys(source: str, where: str, keys: Iterable[str],
               known: set) -> None:
    unknown = sorted(set(keys) - known)
    if unknown:
        warnings.warn(f'{source}: unknown key(s) {unknown} in {where} '
                      f'(ignored); expected some of {sorted(known)}')


def _as_boxes(value, source: str, key) -> np.ndarray:
    arr = np.asarray(value, np.float32)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'{source}: key "{key}" must be a list of '
                         f'[x, y, w, h] boxes, found shape {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'{source}: key "{key}" has non-finite box values '
                         f'{arr.tolist()}')
    return arr


def _stack(groups: Dict[Key, List[np.ndarray]]) -> Dict[Key, np.ndarray]:
    return {
        k: np.asarray(v, np.float32).reshape(-1, 4)
        for k, v in groups.items()
    }


def _coco(data, source: str, score_thr: float) -> Dict[Key, np.ndarray]:
    """COCO detection results (list) or a COCO file with images."""
    names = {}
    if isinstance(data, dict):
        names = {img['id']: img['file_name'] for img in data['images']}
        data = data['annotations']
    groups: Dict[Key, List[np.ndarray]] = {}
    extra = set()
    for i, det in enumerate(data):
        if not isinstance(det, dict) or 'image_id' not in det or \
                'bbox' not in det:
            raise ValueError(f'{source}: entry {i} must be a dict with '
                             f'"image_id" and "bbox" [x, y, w, h], found '
                             f'{det!r:.80}')
        extra |= set(det) - COCO_KEYS
        # An image with detections but no person above the threshold has
        # no person (an empty entry), not "no entry" (the whole image).
        key = names.get(det['image_id'], det['image_id'])
        groups.setdefault(key, [])
        if det.get('category_id', COCO_PERSON) != COCO_PERSON or \
                det.get('score', 1.0) < score_thr:
            continue
        groups[key].append(_as_boxes(det['bbox'], source, f'entry {i}')[0])
    _warn_keys(source, 'the detections', extra, COCO_KEYS)
    return _stack(groups)


def _mmpose(data: dict, source: str, image_key: Optional[str],
            score_thr: float) -> Dict[Key, np.ndarray]:
    """mmpose ``--save-predictions``: images (a list of instances) or
    videos (a list of ``{frame_id, instances}``, frame ids from 1)."""
    info = data['instance_info']
    frames = [(None, info)] if not info or 'frame_id' not in info[0] else \
        [(f['frame_id'] - 1, f['instances']) for f in info]
    if frames[0][0] is None and image_key is None:
        raise ValueError(f'{source}: an mmpose image prediction holds no '
                         f'image name; use it with a single --input image')
    groups: Dict[Key, List[np.ndarray]] = {}
    extra = set()
    for frame, instances in frames:
        key = image_key if frame is None else frame
        groups.setdefault(key, [])
        for inst in instances:
            extra |= set(inst) - MMPOSE_KEYS
            if inst.get('bbox_score', 1.0) < score_thr:
                continue
            x0, y0, x1, y1 = np.asarray(inst['bbox'],
                                        np.float32).reshape(-1)[:4]
            groups[key].append(np.array([x0, y0, x1 - x0, y1 - y0]))
    _warn_keys(source, 'the instances', extra, MMPOSE_KEYS)
    return _stack(groups)


def openpose_boxes(data: dict, source: str) -> np.ndarray:
    """Square boxes ``ndarray[N, 4]`` (xywh) of the people of one OpenPose
    file, as SPIN's ``bbox_from_openpose`` (already enlarged by 1.2)."""
    boxes = []
    for i, person in enumerate(data['people']):
        _warn_keys(source, f'person {i}', person, OPENPOSE_PERSON_KEYS)
        if 'pose_keypoints_2d' not in person:
            raise ValueError(f'{source}: person {i} has no '
                             f'"pose_keypoints_2d"; found {sorted(person)}')
        kp = np.asarray(person['pose_keypoints_2d'], np.float32).reshape(-1, 3)
        visible = kp[kp[:, 2] > OPENPOSE_CONF_THR, :2]
        if len(visible) < 2:
            warnings.warn(f'{source}: person {i} has {len(visible)} '
                          f'keypoint(s) above confidence '
                          f'{OPENPOSE_CONF_THR}: skipped')
            continue
        centre = visible.mean(0)
        side = (visible.max(0) - visible.min(0)).max() * OPENPOSE_RESCALE
        boxes.append([centre[0] - side / 2, centre[1] - side / 2, side, side])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def load_bbox_file(path: str,
                   score_thr: float = 0.3,
                   single_image: Optional[str] = None) -> BoxTable:
    """Read person boxes from any of the formats of this module.

    Args:
        path (str): A JSON file, or a folder of OpenPose JSON files.
        score_thr (float): Minimum detection score (COCO / mmpose).
            Defaults to 0.3 (mmpose's demo ``--bbox-thr``).
        single_image (str, optional): The input's file name when it is one
            image: names the boxes of files that hold no image name (one
            OpenPose file, an mmpose image prediction).

    Returns:
        BoxTable: boxes per key.
    """
    if osp.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith('.json'))
        if not files:
            raise FileNotFoundError(f'--bbox-file {path}: a folder, but no '
                                    f'OpenPose *_keypoints.json in it')
        boxes = {}
        for f in files:
            with open(osp.join(path, f)) as fh:
                data = json.load(fh)
            if not isinstance(data, dict) or 'people' not in data:
                raise ValueError(f'{osp.join(path, f)}: expected OpenPose '
                                 f'keypoints {{"people": [...]}}')
            boxes[f] = openpose_boxes(data, osp.join(path, f))
        return BoxTable(boxes, path, padding=1.0)
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):
        return BoxTable(_coco(data, path, score_thr), path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object {{image_name: '
                         f'[[x, y, w, h], ...]}} or a list of COCO '
                         f'detections, found {type(data).__name__}')
    if 'people' in data:
        if single_image is None:
            raise ValueError(f'{path}: one OpenPose file holds one image; '
                             f'use it with a single --input image or pass '
                             f'the folder of *_keypoints.json files')
        return BoxTable({single_image: openpose_boxes(data, path)},
                        path,
                        padding=1.0)
    if 'instance_info' in data:
        return BoxTable(_mmpose(data, path, single_image, score_thr), path)
    if 'annotations' in data and 'images' in data:
        return BoxTable(_coco(data, path, score_thr), path)
    return BoxTable({k: _as_boxes(v, path, k) for k, v in data.items()}, path)
