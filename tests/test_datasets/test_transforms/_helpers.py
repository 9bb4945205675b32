"""Random but valid inputs for the transform tests (not a test module)."""
import numpy as np


def make_results(rng: np.random.Generator,
                 height: int = 60,
                 width: int = 80) -> dict:
    """A results dict as ``HumanImageDataset.get_data_info`` + LoadImage give.

    The 3D joints and the 2D keypoints need not be consistent here; tests
    that need consistency build their own.
    """
    keypoints = rng.uniform([0, 0], [width - 1, height - 1],
                            size=(1, 49, 2)).astype(np.float32)
    kp3d = np.concatenate(
        [rng.normal(size=(24, 3)),
         rng.integers(0, 2, size=(24, 1))], 1)
    return dict(
        img=rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8),
        img_shape=(height, width),
        bbox=np.array([[10.0, 5.0, 50.0, 55.0]], np.float32),
        bbox_center=np.array([[30.0, 30.0]], np.float32),
        bbox_scale=np.array([[40.0, 50.0]], np.float32),
        keypoints=keypoints,
        keypoints_visible=rng.integers(0, 2, size=(1, 49)).astype(np.float32),
        keypoints3d=kp3d.astype(np.float32),
        smpl_global_orient=rng.normal(size=3).astype(np.float32),
        smpl_body_pose=(0.3 * rng.normal(size=69)).astype(np.float32),
        smpl_betas=rng.normal(size=10).astype(np.float32),
        has_smpl=1,
        has_kp3d=1,
        gender='neutral',
        sample_idx=3,
        img_path='x.png',
        dataset_name='unit')
