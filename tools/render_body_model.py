"""Render the body model posed, from the front, the side and the back.

Step 1 of the README quick start: generates the synthetic SMPL-format body
model if it is missing and shows it walking with its body parts coloured::

    python tools/render_body_model.py --root data/body_models_synthetic \
        --out outputs/body_model.png

``--root data/body_models`` renders the licensed SMPL files instead.
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import torch

from mmhuman_imphmr.body_models import SMPL, ensure_synthetic_body_model
from mmhuman_imphmr.utils.constants import SMPL_JOINT_NAMES
from mmhuman_imphmr.utils.geometry import rotate_joints_to_view
from mmhuman_imphmr.visualization import MeshVisualizer

# A mid-stride walking pose, axis-angle per SMPL joint in the model's rest
# frame (y up, body facing +z, x toward the body's left): flexion of a leg
# forward is a negative rotation about x; arms hang from the T-pose by a
# rotation about z (negative for the left arm, positive for the right).
WALKING_POSE = {
    'left_hip': (-0.45, 0.0, 0.05),
    'right_hip': (0.30, 0.0, -0.05),
    'left_knee': (0.25, 0.0, 0.0),
    'right_knee': (0.55, 0.0, 0.0),
    'left_ankle': (0.10, 0.0, 0.0),
    'right_ankle': (-0.15, 0.0, 0.0),
    'spine1': (0.05, 0.0, 0.0),
    'left_shoulder': (0.35, 0.0, -1.20),
    'right_shoulder': (-0.35, 0.0, 1.20),
    'left_elbow': (0.0, 0.45, 0.0),
    'right_elbow': (0.0, -0.35, 0.0),
    'head': (0.05, 0.0, 0.0),
}
VIEWS_DEG = (0.0, 90.0, 180.0)  # front, side (the body's left), back


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--root',
        default='data/body_models_synthetic',
        help='body-model root; generated if it is the '
        'synthetic one and missing')
    parser.add_argument('--out', default='outputs/body_model.png')
    parser.add_argument('--gender', default='neutral')
    parser.add_argument(
        '--size', type=int, default=480, help='height of each view in pixels')
    parser.add_argument(
        '--rest',
        action='store_true',
        help='render the rest (T) pose instead of walking')
    return parser.parse_args()


def walking_body_pose() -> torch.Tensor:
    """``Tensor[1, 69]`` axis-angle body pose of ``WALKING_POSE``."""
    pose = torch.zeros(23, 3)
    for name, rotvec in WALKING_POSE.items():
        pose[SMPL_JOINT_NAMES.index(name) - 1] = torch.tensor(rotvec)
    return pose.view(1, 69)


def render_views(smpl: SMPL,
                 body_pose: torch.Tensor,
                 size: int,
                 views_deg=VIEWS_DEG) -> np.ndarray:
    """Front / side / back renders side by side, RGB uint8."""
    # pi about x turns the y-up model into the OpenCV camera frame (y down),
    # facing the camera (SPIN's mean global orientation).
    global_orient = torch.tensor([[np.pi, 0.0, 0.0]])
    with torch.no_grad():
        out = smpl(
            global_orient=global_orient,
            body_pose=body_pose,
            betas=torch.zeros(1, smpl.num_betas))
    verts = out['vertices'][0]
    centre = (verts.max(0).values + verts.min(0).values) / 2
    verts = verts - centre
    height = float(verts[:, 1].max() - verts[:, 1].min())
    visualizer = MeshVisualizer(
        name='render_body_model',
        faces=smpl.faces_tensor,
        lbs_weights=smpl.smpl.lbs_weights)
    width = int(size * 0.6)
    distance = 6.0
    focal = 0.85 * size * distance / height  # body fills 85% of the height
    panels = []
    for phi in views_deg:
        turned = rotate_joints_to_view(verts, float(np.deg2rad(phi)),
                                       torch.zeros(3))
        turned = turned + torch.tensor([0.0, 0.0, distance])
        background = _backdrop(size, width)
        panel = visualizer.render_mesh(
            turned, (size, width),
            focal, (width / 2.0, size / 2.0),
            background=background)['image']
        label = {
            0.0: 'front',
            90.0: 'side',
            180.0: 'back'
        }.get(phi, f'{phi:g} deg')
        cv2.putText(panel, label, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                    (60, 60, 60), 2, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


def _backdrop(height: int, width: int) -> np.ndarray:
    """A light vertical gradient, RGB uint8."""
    ramp = np.linspace(250, 215, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8).copy()


def atomic_imwrite(path: str, image_rgb: np.ndarray) -> None:
    """Write a PNG through a temporary file and ``os.replace``."""
    from mmhuman_imphmr.engine.atomic_io import atomic_write_bytes
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    ok, data = cv2.imencode('.png', cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f'cannot encode the image for {path}')
    atomic_write_bytes(path, data.tobytes())


def main() -> None:
    args = parse_args()
    if 'synthetic' in osp.basename(osp.normpath(args.root)):
        ensure_synthetic_body_model(args.root)
    smpl = SMPL(model_path=args.root, gender=args.gender)
    body_pose = torch.zeros(1, 69) if args.rest else walking_body_pose()
    image = render_views(smpl, body_pose, args.size)
    atomic_imwrite(args.out, image)
    print(f'wrote {args.out} ({image.shape[1]}x{image.shape[0]}) from '
          f'{smpl.model_file}')


if __name__ == '__main__':
    main()
