"""Mesh recovery demo on an image, a folder of images or a video (CPU ok).

Usage::

    python tools/demo.py CONFIG CHECKPOINT --input IMG|DIR|VIDEO \\
        [--bbox X Y W H | --bbox-file FILE | --detector hog+face] \\
        [--out-dir demo_outputs] [--device cpu] [--batch-size 8] \\
        [--views [DEG ...] | --no-views] [--save-mesh | --no-save-mesh]

``CHECKPOINT`` may be ``none`` for a freshly initialised model (its output
is meaningless; a warning says so). Person boxes, in pixels, from:

* ``--bbox x y w h``: one tight box, used for every image;
* ``--bbox-file FILE``: ``{"image_name": [[x, y, w, h], ...]}``, COCO
  detection results (mmdet), mmpose's ``--save-predictions`` file or
  OpenPose keypoints (one ``*_keypoints.json`` or a folder of them; the box
  as SPIN's ``--openpose``), see ``mmhuman_imphmr/apis/bbox_files.py``.
  Names are file names (``"img_001.jpg"``), stems, COCO ids or, for a video,
  ``"<video stem>_<frame index>"`` (``"walk_000012"``) or the frame index.
  Images without an entry use the whole image; keys that match no input
  and unknown keys are reported;
* neither: ``--detector`` (default ``hog+face``: OpenCV's HOG people
  detector and face cascade, no downloaded weights; see
  ``apis/detection.py`` for how good it is). ``--detector none``, or no
  detection, uses the whole image.

Boxes are enlarged by ``--bbox-padding`` (SPIN's 1.2) before cropping;
the whole-image box and OpenPose boxes (already enlarged) are not. A box
entirely outside its image is skipped with a warning. Frames go through
the model ``--batch-size`` at a time. Outputs per person ``k`` of image
``NAME`` in ``--out-dir``: ``NAME_k_smpl.npz`` and ``NAME_k_smpl.json``
(SMPL parameters, camera, box), with ``--save-mesh`` ``NAME_k.obj`` (mesh
in the camera frame: OpenCV axes, x right, y down, z forward, metres),
with ``--views`` ``NAME_k_views.png`` (the model's predictions at the
azimuths and the silhouette head), for an image ``NAME_k_overlay.png``
(the mesh over the full image) and for a video ``VIDEO_overlay.mp4`` (every
person's mesh over each frame, the input's frame rate). ``--save-mesh`` and
``--views`` are on for images and off for videos unless given. Results
that are not finite are refused (an error names the image and person).
Every file is written to a temporary name and renamed (``os.replace``).
"""
import argparse
import io
import json
import os
import os.path as osp
import sys
import warnings
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
DEFAULT_VIEWS = (0.0, 90.0, 180.0, 270.0)
# Keys of the per-person result stored in the .npz (the .json omits the
# mesh arrays).
PARAM_KEYS = ('global_orient', 'body_pose', 'betas', 'cam', 'translation',
              'focal_length', 'principal_point', 'bbox_xywh', 'bbox_center',
              'bbox_scale', 'keypoints2d')
ARRAY_KEYS = ('vertices', 'keypoints3d', 'rotmat')
VIEW_KEYS = ('view_vertices', 'view_cams', 'view_silhouettes')
# Assumption (speed): the video overlay renders each person in its crop
# window at most this many pixels wide, then scales it to the window.
OVERLAY_SIDE = 256


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='ImpHMR mesh recovery demo',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file or 'none'")
    parser.add_argument(
        '--input',
        required=True,
        help='an image, a folder of images or a video')
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument(
        '--bbox', type=float, nargs=4, metavar=('X', 'Y', 'W', 'H'))
    boxes.add_argument(
        '--bbox-file',
        help='boxes JSON (own, COCO, mmpose) or OpenPose '
        'keypoints (file or folder)')
    parser.add_argument(
        '--detector',
        default='hog+face',
        choices=('hog+face', 'hog', 'face', 'none'),
        help='person detector when no boxes are given')
    parser.add_argument(
        '--bbox-score-thr',
        type=float,
        default=0.3,
        help='minimum score of COCO / mmpose boxes')
    parser.add_argument(
        '--bbox-padding',
        type=float,
        default=1.2,
        help='enlargement of given boxes (SPIN: 1.2)')
    parser.add_argument('--out-dir', default='demo_outputs')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=8,
        help='images / frames per forward pass')
    views = parser.add_mutually_exclusive_group()
    views.add_argument(
        '--views',
        type=float,
        nargs='*',
        default=None,
        metavar='DEG',
        help='imagined views at these azimuths (degrees; '
        'none given: 0 90 180 270); default: on for '
        'images, off for videos')
    views.add_argument('--no-views', action='store_true')
    parser.add_argument(
        '--save-mesh',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='write the .obj meshes (default: on for '
        'images, off for videos)')
    parser.add_argument(
        '--body-model-root',
        default=None,
        help="replaces the config's body-model root, e.g. "
        'data/body_models for the licensed SMPL files')
    parser.add_argument(
        '--max-frames',
        type=int,
        default=None,
        help='stop a video after this many frames')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, found {args.batch_size}')
    return args


# ----------------------------------------------------------------------
# Inputs


class Inputs:
    """An image, a folder of images or a video.

    Iterating yields ``(name, aliases, BGR image)``: ``name`` is the output
    stem, ``aliases`` the keys a bbox file may use for it.
    """

    def __init__(self, path: str, max_frames: Optional[int] = None) -> None:
        self.path = path
        self.max_frames = max_frames
        self.is_video = False
        self.fps = 25.0
        if osp.isdir(path):
            files = sorted(
                f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTS))
            if not files:
                raise FileNotFoundError(f'no images ({IMAGE_EXTS}) in {path}')
            self.files = [osp.join(path, f) for f in files]
        elif not osp.isfile(path):
            raise FileNotFoundError(f'--input {path} does not exist')
        elif path.lower().endswith(VIDEO_EXTS):
            self.is_video = True
            self.stem = osp.splitext(osp.basename(path))[0]
            capture = cv2.VideoCapture(path)
            if not capture.isOpened():
                raise ValueError(f'cannot open video {path}')
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = capture.get(cv2.CAP_PROP_FPS)
            capture.release()
            self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 \
                else 25.0
            if max_frames is not None:
                count = min(count, max_frames) if count > 0 else max_frames
            self.count = count
        else:
            self.files = [path]
        if not self.is_video:
            self.count = len(self.files)

    def examples(self) -> List[str]:
        """A few input names, for messages."""
        if self.is_video:
            return [f'{self.stem}_{i:06d}' for i in range(3)]
        return [osp.basename(f) for f in self.files[:3]]

    def __iter__(self) -> Iterator[Tuple[str, tuple, np.ndarray]]:
        from mmhuman_imphmr.apis.bbox_files import frame_aliases, image_aliases
        if not self.is_video:
            for file in self.files:
                image = cv2.imread(file, cv2.IMREAD_COLOR)
                if image is None:
                    raise ValueError(f'cannot decode image {file}')
                name = osp.splitext(osp.basename(file))[0]
                yield name, image_aliases(osp.basename(file)), image
            return
        capture = cv2.VideoCapture(self.path)
        index = 0
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                yield (f'{self.stem}_{index:06d}',
                       frame_aliases(self.stem, index), frame)
                index += 1
        finally:
            capture.release()


def iter_inputs(
    path: str,
    max_frames: Optional[int] = None
) -> Tuple[int, Iterator[Tuple[str, tuple, np.ndarray]]]:
    """``(count, iterator of (name, aliases, BGR image))`` for any input."""
    inputs = Inputs(path, max_frames)
    return inputs.count, iter(inputs)


def load_bbox_file(path: str,
                   score_thr: float = 0.3,
                   single_image: Optional[str] = None):
    """:func:`mmhuman_imphmr.apis.bbox_files.load_bbox_file`."""
    from mmhuman_imphmr.apis.bbox_files import load_bbox_file as load
    return load(path, score_thr=score_thr, single_image=single_image)


def boxes_inside(boxes: np.ndarray, shape: Tuple[int, ...], name: str,
                 source: str) -> np.ndarray:
    """Drop (with a warning) the boxes that do not overlap the image;
    refuse boxes without area."""
    height, width = shape[:2]
    keep = []
    for box in np.asarray(boxes, np.float32).reshape(-1, 4):
        x, y, w, h = box
        if not (w > 0 and h > 0):
            raise ValueError(f'{name}: box {box.tolist()} from {source} has '
                             f'no area: expected [x, y, w, h] with w, h > 0')
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            warnings.warn(f'{name}: box {box.tolist()} from {source} is '
                          f'entirely outside the {width} x {height} image: '
                          f'skipped')
        else:
            keep.append(box)
    return np.asarray(keep, np.float32).reshape(-1, 4)


# ----------------------------------------------------------------------
# Outputs


def write_atomic(path: str, data: bytes) -> None:
    """Temporary file beside ``path``, then ``os.replace``
    (``engine.atomic_io``)."""
    from mmhuman_imphmr.engine.atomic_io import atomic_write_bytes
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, data)


def write_png(path: str, image_bgr: np.ndarray) -> None:
    ok, data = cv2.imencode('.png', image_bgr)
    if not ok:
        raise RuntimeError(f'cannot encode {path}')
    write_atomic(path, data.tobytes())


def obj_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Wavefront OBJ text (1-based face indices)."""
    out = io.StringIO()
    out.write('# ImpHMR demo mesh: camera frame (OpenCV: x right, y down, '
              'z forward), metres\n')
    np.savetxt(out, vertices, fmt='v %.6f %.6f %.6f')
    np.savetxt(out, np.asarray(faces) + 1, fmt='f %d %d %d')
    return out.getvalue().encode()


def check_finite(person: Dict[str, np.ndarray], name: str, k: int) -> None:
    """Refuse a result with NaN / inf (JSON cannot hold them)."""
    bad = [
        key for key in PARAM_KEYS + ARRAY_KEYS + VIEW_KEYS
        if key in person and not np.isfinite(person[key]).all()
    ]
    if bad:
        box = np.asarray(person['bbox_xywh']).tolist()
        raise ValueError(
            f'{name}: person {k} (box {box}) has non-finite values in '
            f'{bad}: nothing written for it. The checkpoint or the input '
            f'is broken (check the checkpoint loads and the box lies on '
            f'the image)')


def overlay_people(image_bgr: np.ndarray, people: List[dict],
                   visualizer) -> np.ndarray:
    """Every person's mesh over the image, each rendered in its crop window
    at most :data:`OVERLAY_SIDE` pixels wide (cheap for video frames);
    farther people first."""
    out = image_bgr.copy()
    height, width = out.shape[:2]
    crop_size = float(visualizer.crop_size)
    order = sorted(
        range(len(people)), key=lambda i: -float(people[i]['translation'][2]))
    for i in order:
        person = people[i]
        cx, cy = (float(c) for c in person['bbox_center'])
        side = float(person['bbox_scale'][0])
        x0, y0 = max(0, int(np.floor(cx - side / 2))), \
            max(0, int(np.floor(cy - side / 2)))
        x1, y1 = min(width, int(np.ceil(cx + side / 2))), \
            min(height, int(np.ceil(cy + side / 2)))
        if x1 <= x0 or y1 <= y0:
            continue
        factor = min(1.0, OVERLAY_SIDE / max(x1 - x0, y1 - y0))
        size = (max(1, round(
            (y1 - y0) * factor)), max(1, round((x1 - x0) * factor)))
        # Image pixel u (centres at integers) is rasterizer coordinate
        # (u - x0 + 0.5) * factor in the window.
        drawn = visualizer.render_mesh(
            person['vertices'] + person['translation'][None], size,
            visualizer.focal_length * side / crop_size * factor,
            ((cx - x0 + 0.5) * factor, (cy - y0 + 0.5) * factor))
        rgb = cv2.resize(
            drawn['image'], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(
            drawn['mask'].astype(np.float32), (x1 - x0, y1 - y0),
            interpolation=cv2.INTER_LINEAR)[..., None]
        mask *= visualizer.alpha
        window = out[y0:y1, x0:x1].astype(np.float32)
        mesh = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(window * (1 - mask) + mesh * mask + 0.5, 0,
                                    255).astype(np.uint8)
    return out


def save_person(out_dir: str,
                stem: str,
                person: dict,
                faces: np.ndarray,
                image_bgr: Optional[np.ndarray],
                visualizer,
                save_mesh: bool = True) -> List[str]:
    """Write the outputs of one person; return their paths.

    ``.npz`` and ``.json`` always, ``.obj`` with ``save_mesh``, the overlay
    when ``image_bgr`` is given, the views strip when ``person`` has views.
    """
    base = osp.join(out_dir, stem)
    paths = []
    if save_mesh:
        cam_vertices = person['vertices'] + person['translation'][None]
        write_atomic(base + '.obj', obj_bytes(cam_vertices, faces))
        paths.append(base + '.obj')
    buffer = io.BytesIO()
    np.savez(buffer, **{k: person[k] for k in PARAM_KEYS + ARRAY_KEYS})
    write_atomic(base + '_smpl.npz', buffer.getvalue())
    params = {k: np.asarray(person[k]).tolist() for k in PARAM_KEYS}
    params['note'] = ('axis-angle SMPL pose; cam = weak perspective (s, tx, '
                      'ty) of the crop; vertices + translation project with '
                      'focal_length / principal_point (pixel centres at '
                      'integers) onto the image')
    # allow_nan=False: NaN is not JSON (check_finite runs before).
    write_atomic(base + '_smpl.json',
                 json.dumps(params, indent=1, allow_nan=False).encode())
    paths += [base + '_smpl.npz', base + '_smpl.json']
    if image_bgr is not None:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        overlay = visualizer.draw_mesh_on_image(rgb, person['vertices'],
                                                person['cam'],
                                                person['bbox_center'],
                                                person['bbox_scale'])
        write_png(base + '_overlay.png',
                  cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        paths.append(base + '_overlay.png')
    if 'view_vertices' in person:
        crop = cv2.cvtColor(person['crop'], cv2.COLOR_BGR2RGB)
        strip = visualizer.draw_imagined_views(
            crop, person['view_vertices'], person['view_cams'],
            [float(p) for p in person['views_deg']],
            person.get('view_silhouettes'))
        write_png(base + '_views.png', cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
        paths.append(base + '_views.png')
    return paths


class VideoOut:
    """``VIDEO_overlay.mp4`` ('mp4v'), written to a temporary name and
    renamed by :meth:`close`; :meth:`abort` removes it."""

    def __init__(self, path: str, fps: float) -> None:
        self.path = path
        self.tmp = osp.join(osp.dirname(path), '.tmp_' + osp.basename(path))
        self.fps = fps
        self.writer = None

    def write(self, frame_bgr: np.ndarray) -> None:
        if self.writer is None:
            os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
            height, width = frame_bgr.shape[:2]
            self.writer = cv2.VideoWriter(self.tmp,
                                          cv2.VideoWriter_fourcc(*'mp4v'),
                                          self.fps, (width, height))
            if not self.writer.isOpened():
                raise RuntimeError(f'cannot open an mp4v video writer for '
                                   f'{self.tmp}')
        self.writer.write(frame_bgr)

    def close(self) -> Optional[str]:
        if self.writer is None:
            return None
        self.writer.release()
        self.writer = None
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if osp.exists(self.tmp):
            os.remove(self.tmp)


# ----------------------------------------------------------------------
# The run


class BoxSource:
    """The person boxes of each input, from the arguments."""

    def __init__(self, args: argparse.Namespace, inputs: Inputs) -> None:
        self.args = args
        self.table = None
        self.detector = None
        self.misses: List[str] = []
        if args.bbox_file:
            single = None if inputs.is_video or len(inputs.files) > 1 else \
                osp.basename(inputs.files[0])
            self.table = load_bbox_file(args.bbox_file, args.bbox_score_thr,
                                        single)
        elif args.bbox is None and args.detector != 'none':
            from mmhuman_imphmr.apis.detection import OpenCVPersonDetector
            self.detector = OpenCVPersonDetector(args.detector)

    def __call__(self, name: str, aliases: tuple, image: np.ndarray
                 ) -> Tuple[Optional[np.ndarray], Optional[float]]:
        """``(boxes, padding)``; ``boxes`` None: the whole image (padding 1);
        an empty array: no person."""
        args = self.args
        if args.bbox is not None:
            return boxes_inside(
                np.asarray([args.bbox]), image.shape, name,
                '--bbox'), args.bbox_padding
        if self.table is not None:
            boxes = self.table.lookup(aliases)
            if boxes is None:
                return None, 1.0
            padding = self.table.padding or args.bbox_padding
            return boxes_inside(boxes, image.shape, name,
                                self.table.source), padding
        if self.detector is not None:
            found = self.detector(image)['boxes']
            if len(found):
                return found, args.bbox_padding
            self.misses.append(name)
        return None, 1.0  # the whole image, as it is

    def finish(self, inputs: Inputs) -> None:
        if self.table is not None:
            self.table.warn_unused(inputs.examples())
        if self.misses:
            warnings.warn(
                f'the {self.args.detector} detector found nobody in '
                f'{len(self.misses)} of {inputs.count} input(s) '
                f'({self.misses[:3]}{" ..." if len(self.misses) > 3 else ""})'
                f': the whole image was used')


def _chunks(items, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(args: argparse.Namespace) -> List[str]:
    """Run the demo; return the written paths."""
    from mmhuman_imphmr.apis import inference_mesh_batch, init_model
    from mmhuman_imphmr.visualization import MeshVisualizer
    if str(args.checkpoint).lower() == 'none':
        print('WARNING: no checkpoint given: the model is freshly '
              'initialised and its meshes are meaningless.')
    inputs = Inputs(args.input, args.max_frames)
    video = inputs.is_video
    save_mesh = (not video) if args.save_mesh is None else args.save_mesh
    if args.no_views or (args.views is None and video):
        views = None
    else:
        views = list(args.views or DEFAULT_VIEWS)
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        body_model_root=args.body_model_root)
    body_model = model.head.body_model
    faces = body_model.faces_tensor.cpu().numpy()
    visualizer = MeshVisualizer(
        name=f'demo_{id(model)}',
        faces=body_model.faces_tensor,
        lbs_weights=body_model.smpl.lbs_weights,
        focal_length=float(model.head.focal_length),
        crop_size=int(model.head.crop_size))
    source = BoxSource(args, inputs)
    movie = VideoOut(
        osp.join(args.out_dir, f'{inputs.stem}_overlay.mp4'),
        inputs.fps) if video else None
    written = []
    progress = tqdm(
        total=inputs.count,
        unit='frame' if video else 'img',
        disable=inputs.count <= 1)
    try:
        for chunk in _chunks(iter(inputs), args.batch_size):
            found = [
                source(name, aliases, image) for name, aliases, image in chunk
            ]
            todo = [
                i for i, (boxes, _) in enumerate(found)
                if boxes is None or len(boxes)
            ]
            people = inference_mesh_batch(
                model, [chunk[i][2] for i in todo],
                [found[i][0] for i in todo], [found[i][1] for i in todo],
                views_deg=views,
                batch_size=max(8, args.batch_size))
            per_image = {i: p for i, p in zip(todo, people)}
            for i, (name, _, image) in enumerate(chunk):
                frame_people = per_image.get(i, [])
                for k, person in enumerate(frame_people):
                    check_finite(person, name, k)
                for k, person in enumerate(frame_people):
                    written += save_person(args.out_dir, f'{name}_{k}', person,
                                           faces, None if video else image,
                                           visualizer, save_mesh)
                if movie is not None:
                    movie.write(
                        overlay_people(image, frame_people, visualizer))
                progress.update(1)
        if movie is not None:
            path = movie.close()
            if path is not None:
                written.append(path)
    finally:
        progress.close()
        if movie is not None:
            movie.abort()
    source.finish(inputs)
    return written


def main() -> None:
    args = parse_args()
    written = run(args)
    print(f'wrote {len(written)} files to {args.out_dir}')
    if not written:
        sys.exit('no person was processed (see the warnings above)')


if __name__ == '__main__':
    main()
