"""Mesh recovery demo on an image, a folder of images or a video (CPU ok).

Usage::

    python tools/demo.py CONFIG CHECKPOINT --input IMG|DIR|VIDEO \
        [--bbox X Y W H | --bbox-file boxes.json] [--out-dir demo_outputs] \
        [--device cpu] [--views 0 90 180 270]

``CHECKPOINT`` may be ``none`` for a freshly initialised model (its output
is meaningless; a warning says so). Person boxes, tight, in pixels:

* ``--bbox x y w h``: one box, used for every image;
* ``--bbox-file boxes.json``: ``{"image_name": [[x, y, w, h], ...], ...}``
  where ``image_name`` is the file name (e.g. ``"img_001.jpg"``) or, for
  a video, ``"<video stem>_<frame index, 6 digits>"`` (``"walk_000012"``);
  images without an entry use the whole image;
* neither: the whole image is one person.

Boxes are enlarged by ``--bbox-padding`` (SPIN's 1.2) before cropping; the
whole-image box is not. Outputs per person ``k`` of image ``NAME`` in
``--out-dir``: ``NAME_k.obj`` (mesh in the camera frame: OpenCV axes, x
right, y down, z forward, metres), ``NAME_k_smpl.npz`` and
``NAME_k_smpl.json`` (SMPL parameters, camera, box), ``NAME_k_overlay.png``
(the mesh over the full image) and ``NAME_k_views.png`` (the imagined views
strip: the model's predictions at ``--views`` and the silhouette head).
Every file is written to a temporary name and renamed (``os.replace``).
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
# Keys of the per-person result stored in the .npz (the .json omits the
# mesh arrays).
PARAM_KEYS = ('global_orient', 'body_pose', 'betas', 'cam', 'translation',
              'focal_length', 'principal_point', 'bbox_xywh', 'bbox_center',
              'bbox_scale', 'keypoints2d')
ARRAY_KEYS = ('vertices', 'keypoints3d', 'rotmat')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='ImpHMR mesh recovery demo',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file or 'none'")
    parser.add_argument('--input', required=True,
                        help='an image, a folder of images or a video')
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument('--bbox', type=float, nargs=4,
                       metavar=('X', 'Y', 'W', 'H'))
    boxes.add_argument('--bbox-file', help='JSON {image_name: [[x,y,w,h]]}')
    parser.add_argument('--bbox-padding', type=float, default=1.2,
                        help='enlargement of given boxes (SPIN: 1.2)')
    parser.add_argument('--out-dir', default='demo_outputs')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--views', type=float, nargs='+',
                        default=[0.0, 90.0, 180.0, 270.0],
                        help='azimuths (degrees) of the imagined views')
    parser.add_argument('--body-model-root', default=None,
                        help="replaces the config's body-model root, e.g. "
                        'data/body_models for the licensed SMPL files')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='stop a video after this many frames')
    return parser.parse_args(argv)


# ----------------------------------------------------------------------
# Inputs


def iter_inputs(path: str, max_frames: Optional[int] = None
                ) -> Tuple[int, Iterator[Tuple[str, str, np.ndarray]]]:
    """``(count, iterator of (name, key, BGR image))`` for any input kind.

    ``name`` is the output stem, ``key`` the bbox-file key.
    """
    if osp.isdir(path):
        files = sorted(f for f in os.listdir(path)
                       if f.lower().endswith(IMAGE_EXTS))
        if not files:
            raise FileNotFoundError(f'no images ({IMAGE_EXTS}) in {path}')
        return len(files), _iter_images([osp.join(path, f) for f in files])
    if not osp.isfile(path):
        raise FileNotFoundError(f'--input {path} does not exist')
    if path.lower().endswith(VIDEO_EXTS):
        return _video(path, max_frames)
    return 1, _iter_images([path])


def _iter_images(files: List[str]):
    for file in files:
        image = cv2.imread(file, cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f'cannot decode image {file}')
        name = osp.splitext(osp.basename(file))[0]
        yield name, osp.basename(file), image


def _video(path: str, max_frames: Optional[int]):
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'cannot open video {path}')
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if max_frames is not None:
        total = min(total, max_frames) if total > 0 else max_frames
    stem = osp.splitext(osp.basename(path))[0]

    def frames():
        index = 0
        try:
            while max_frames is None or index < max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                name = f'{stem}_{index:06d}'
                yield name, name, frame
                index += 1
        finally:
            capture.release()

    return total, frames()


def load_bbox_file(path: str) -> Dict[str, np.ndarray]:
    """Read ``{image_name: [[x, y, w, h], ...]}``, checking the format."""
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object {{image_name: '
                         f'[[x, y, w, h], ...]}}, found {type(data).__name__}')
    boxes = {}
    for key, value in data.items():
        arr = np.asarray(value, np.float32)
        if arr.ndim == 1 and arr.size == 4:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f'{path}: key "{key}" must be a list of '
                             f'[x, y, w, h] boxes, found shape {arr.shape}')
        boxes[key] = arr
    return boxes


# ----------------------------------------------------------------------
# Outputs


def write_atomic(path: str, data: bytes) -> None:
    """Temporary file beside ``path``, then ``os.replace`` (engine.atomic_io)."""
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
    lines = ['# ImpHMR demo mesh: camera frame (OpenCV: x right, y down, '
             'z forward), metres']
    lines += [f'v {x:.6f} {y:.6f} {z:.6f}' for x, y, z in vertices]
    lines += [f'f {a + 1} {b + 1} {c + 1}' for a, b, c in faces]
    return ('\n'.join(lines) + '\n').encode()


def save_person(out_dir: str, stem: str, person: dict, faces: np.ndarray,
                image_bgr: np.ndarray, visualizer) -> List[str]:
    """Write the five outputs of one person; return their paths."""
    import io
    base = osp.join(out_dir, stem)
    paths = [base + s for s in ('.obj', '_smpl.npz', '_smpl.json',
                                '_overlay.png', '_views.png')]
    cam_vertices = person['vertices'] + person['translation'][None]
    write_atomic(paths[0], obj_bytes(cam_vertices, faces))
    buffer = io.BytesIO()
    np.savez(buffer, **{k: person[k] for k in PARAM_KEYS + ARRAY_KEYS})
    write_atomic(paths[1], buffer.getvalue())
    params = {k: np.asarray(person[k]).tolist() for k in PARAM_KEYS}
    params['note'] = ('axis-angle SMPL pose; cam = weak perspective (s, tx, '
                      'ty) of the crop; vertices + translation project with '
                      'focal_length / principal_point (pixel centres at '
                      'integers) onto the image')
    write_atomic(paths[2], json.dumps(params, indent=1).encode())
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    overlay = visualizer.draw_mesh_on_image(rgb, person['vertices'],
                                            person['cam'],
                                            person['bbox_center'],
                                            person['bbox_scale'])
    write_png(paths[3], cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    crop = cv2.cvtColor(person['crop'], cv2.COLOR_BGR2RGB)
    strip = visualizer.draw_imagined_views(
        crop, person['view_vertices'], person['view_cams'],
        [float(p) for p in person['views_deg']],
        person.get('view_silhouettes'))
    write_png(paths[4], cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return paths


def run(args: argparse.Namespace) -> List[str]:
    """Run the demo; return the written paths."""
    from mmhuman_imphmr.apis import inference_mesh, init_model
    from mmhuman_imphmr.visualization import MeshVisualizer
    if str(args.checkpoint).lower() == 'none':
        print('WARNING: no checkpoint given: the model is freshly '
              'initialised and its meshes are meaningless.')
    model = init_model(args.config, args.checkpoint, device=args.device,
                       body_model_root=args.body_model_root)
    body_model = model.head.body_model
    faces = body_model.faces_tensor.cpu().numpy()
    visualizer = MeshVisualizer(
        name=f'demo_{id(model)}', faces=body_model.faces_tensor,
        lbs_weights=body_model.smpl.lbs_weights,
        focal_length=float(model.head.focal_length),
        crop_size=int(model.head.crop_size))
    box_table = load_bbox_file(args.bbox_file) if args.bbox_file else None
    count, items = iter_inputs(args.input, args.max_frames)
    written = []
    progress = tqdm(items, total=count, unit='img', disable=count <= 1)
    for name, key, image in progress:
        padding = args.bbox_padding
        if args.bbox is not None:
            boxes = [args.bbox]
        elif box_table is not None and key in box_table:
            boxes = box_table[key]
        else:
            boxes, padding = None, 1.0  # the whole image, as it is
        people = inference_mesh(model, image, boxes, bbox_padding=padding,
                                views_deg=args.views)
        for k, person in enumerate(people):
            written += save_person(args.out_dir, f'{name}_{k}', person, faces,
                                   image, visualizer)
    return written


def main() -> None:
    args = parse_args()
    written = run(args)
    print(f'wrote {len(written)} files to {args.out_dir}')


if __name__ == '__main__':
    main()
