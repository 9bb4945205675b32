"""Inference API: build a model from a config, run it on person boxes.

``init_model`` builds the estimator on a device, loads a checkpoint (or
warns that the model is freshly initialised) and keeps the config's test
pipeline; ``inference_mesh`` runs that pipeline on one image and the given
boxes (``inference_mesh_batch`` on several images, e.g. video frames, in
one forward pass) and returns, per person, the SMPL parameters, the camera
in the crop and in the full image, and the mesh (mmpose
``apis/inference.py`` layout).
"""
import copy
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.geometry import (rotmat_to_axis_angle,
                                           weak_perspective_to_translation)

# Files the body-model root must hold (see smpl_file.BODY_MODEL_TREE).
_ROOT_FILES = ('smpl/SMPL_NEUTRAL.pkl', 'smpl_mean_params.npz')


def load_checkpoint_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The model state dict of an MMEngine (or plain) checkpoint file,
    read with safe (weights-only) loading (``engine.safe_load``)."""
    from mmhuman_imphmr.engine.safe_load import safe_load_checkpoint
    ckpt = safe_load_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{path}: expected a dict with "state_dict", found '
                         f'{type(ckpt).__name__}')
    # Checkpoints saved from a DDP-wrapped model prefix every key.
    return {
        k[7:] if k.startswith('module.') else k: v
        for k, v in state.items()
    }


def _prepare_body_model(cfg: Config, body_model_root: Optional[str]) -> None:
    """Point the head at ``body_model_root`` (or check the config's root).

    The body-model tensors are non-persistent buffers, so one checkpoint
    works with the synthetic model and with the licensed SMPL files.
    """
    head = cfg.model.head
    if body_model_root is not None:
        head.body_model.model_path = body_model_root
        head.mean_params = osp.join(body_model_root, 'smpl_mean_params.npz')
    root = head.body_model.model_path
    missing = [f for f in _ROOT_FILES if not osp.exists(osp.join(root, f))]
    if missing and 'synthetic' in osp.basename(osp.normpath(root)):
        from mmhuman_imphmr.body_models import ensure_synthetic_body_model
        ensure_synthetic_body_model(root)
    elif missing:
        raise FileNotFoundError(
            f'body-model root {root} lacks {missing}; put the SMPL files '
            f'there (README "Body models") or pass body_model_root / '
            f'--body-model-root data/body_models_synthetic')


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               body_model_root: Optional[str] = None) -> torch.nn.Module:
    """Build an estimator from a config and load its checkpoint.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file; ``None`` (or
            ``'none'``) keeps the freshly initialised weights, with a
            warning: the predictions are then meaningless.
        device (str): e.g. ``'cpu'`` or ``'cuda:0'``. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
        body_model_root (str, optional): Body-model root replacing the
            config's (e.g. ``data/body_models`` for the licensed files).

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and
        ``test_pipeline_cfg`` attributes.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmhuman_imphmr'))
    import mmhuman_imphmr.utils.setup_env as setup_env
    setup_env.register_all_modules(init_default_scope=False)
    _prepare_body_model(cfg, body_model_root)
    # Weights come from the checkpoint: no pretrained initialisation.
    cfg.model.init_cfg = None
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    if checkpoint is None or str(checkpoint).lower() == 'none':
        warnings.warn('init_model: no checkpoint, the model is FRESHLY '
                      'INITIALISED and its predictions are meaningless')
    else:
        from mmhuman_imphmr.engine.safe_load import load_state_dict_checked

        # Strict: a checkpoint of another architecture is refused, naming
        # the missing / unexpected / mismatching keys.
        load_state_dict_checked(
            model,
            load_checkpoint_state_dict(checkpoint),
            source=checkpoint,
            strict=True)
    pipeline = cfg.get('test_pipeline', None)
    if pipeline is None:
        pipeline = cfg.test_dataloader.dataset.pipeline
    model.cfg = cfg
    model.test_pipeline_cfg = copy.deepcopy(pipeline)
    return model.to(device).eval()


def _pipeline(model: torch.nn.Module, bbox_padding: Optional[float]):
    cfg = copy.deepcopy(model.test_pipeline_cfg)
    for step in cfg:
        if 'GetBBoxCenterScale' in step['type'] and bbox_padding is not None:
            step['padding'] = float(bbox_padding)
    return Compose(cfg)


def _read_image(image: Union[str, np.ndarray]):
    if isinstance(image, str):
        import cv2
        img = cv2.imread(image, cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f'cannot read image {image}')
        return img, image
    return np.asarray(image), None


@torch.no_grad()
def inference_mesh(model: torch.nn.Module,
                   image: Union[str, np.ndarray],
                   bboxes: Optional[Sequence[Sequence[float]]] = None,
                   bbox_padding: Optional[float] = None,
                   views_deg: Optional[Sequence[float]] = None
                   ) -> List[Dict[str, np.ndarray]]:
    """Mesh recovery for each person box of one image.

    Args:
        model (nn.Module): From :func:`init_model`.
        image (str | ndarray[H, W, 3]): Path or BGR uint8 image.
        bboxes (Sequence[[x, y, w, h]], optional): Person boxes in pixels;
            the whole image when omitted.
        bbox_padding (float, optional): Replaces the padding of the
            pipeline's ``GetBBoxCenterScale`` (e.g. SPIN's 1.2 for tight
            boxes). Defaults to the config's.
        views_deg (Sequence[float], optional): Also predict the imagined
            views at these azimuths (degrees).

    Returns:
        list[dict]: Per person (numpy arrays): ``bbox_xywh`` [4],
        ``bbox_center`` [2], ``bbox_scale`` [2] (the crop in image pixels),
        ``global_orient`` [3] and ``body_pose`` [69] (axis-angle), ``rotmat``
        [24, 3, 3], ``betas`` [10], ``cam`` [3] (``s, tx, ty``),
        ``translation`` [3] (camera translation of the mesh), ``focal_length``
        [2] and ``principal_point`` [2] of the full-image pinhole under which
        ``vertices + translation`` lands on the person, ``vertices`` [6890,
        3], ``keypoints3d`` [49, 3], ``keypoints2d`` [49, 2] (image pixels),
        ``crop`` [S, S, 3] (BGR uint8 model input); with ``views_deg`` also
        ``views_deg`` [A], ``view_vertices`` [A, 6890, 3], ``view_cams``
        [A, 3] and, with a silhouette head, ``view_silhouettes`` [A, h, w]
        (probabilities).
    """
    return inference_mesh_batch(model, [image], [bboxes], bbox_padding,
                                views_deg)[0]


@torch.no_grad()
def inference_mesh_batch(model: torch.nn.Module,
                         images: Sequence[Union[str, np.ndarray]],
                         bboxes: Sequence[Optional[Sequence[Sequence[float]]]],
                         bbox_padding: Union[None, float,
                                             Sequence[Optional[float]]] = None,
                         views_deg: Optional[Sequence[float]] = None,
                         batch_size: int = 32
                         ) -> List[List[Dict[str, np.ndarray]]]:
    """:func:`inference_mesh` for several images (e.g. video frames) at
    once: the boxes of all images go through the model together, in
    batches of ``batch_size`` crops.

    Args:
        images (Sequence[str | ndarray[H, W, 3]]): Paths or BGR images.
        bboxes (Sequence[Sequence[[x, y, w, h]] | None]): Boxes per image;
            ``None`` or empty: the whole image.
        bbox_padding (float | Sequence[float | None], optional): One
            padding for all images or one per image (``None``: the
            config's).
        views_deg (Sequence[float], optional): As :func:`inference_mesh`.
        batch_size (int): Crops per forward pass. Defaults to 32.

    Returns:
        list[list[dict]]: Per image, the people of :func:`inference_mesh`.
    """
    if len(bboxes) != len(images):
        raise ValueError(f'inference_mesh_batch: {len(images)} images but '
                         f'{len(bboxes)} box lists')
    paddings = list(bbox_padding) if isinstance(
        bbox_padding, (list, tuple)) else [bbox_padding] * len(images)
    pipelines = {}
    data, owner, boxes_of = [], [], []
    for index, (image, boxes) in enumerate(zip(images, bboxes)):
        img, img_path = _read_image(image)
        height, width = img.shape[:2]
        if boxes is None or len(boxes) == 0:
            boxes = [[0.0, 0.0, float(width), float(height)]]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        boxes_of.append(boxes)
        if paddings[index] not in pipelines:
            pipelines[paddings[index]] = _pipeline(model, paddings[index])
        pipeline = pipelines[paddings[index]]
        for x, y, w, h in boxes:
            if not (w > 0 and h > 0):
                raise ValueError(f'inference_mesh: box {[x, y, w, h]} has '
                                 f'no area')
            data.append(
                pipeline(
                    dict(
                        img=img.copy(),
                        img_path=img_path,
                        bbox=np.array([[x, y, x + w, y + h]], np.float32),
                        bbox_score=np.ones(1, np.float32))))
            owner.append(index)
    people = []
    for start in range(0, len(data), batch_size):
        people += _predict(model, data[start:start + batch_size], views_deg)
    results: List[List[Dict[str, np.ndarray]]] = [[] for _ in images]
    for person, index in zip(people, owner):
        person['bbox_xywh'] = boxes_of[index][len(results[index])]
        results[index].append(person)
    return results


def _predict(model: torch.nn.Module, data: List[dict],
             views_deg: Optional[Sequence[float]]
             ) -> List[Dict[str, np.ndarray]]:
    """One forward pass over pipeline outputs; the per-person dicts
    (without ``bbox_xywh``)."""
    batch = model.data_preprocessor(pseudo_collate(data), False)
    samples = model.predict(batch['inputs'], batch['data_samples'])
    views = None
    if views_deg:
        views = model.predict_views(
            batch['inputs'], [float(np.deg2rad(p)) for p in views_deg],
            return_vertices=True)
    head = model.head
    focal, crop_size = float(head.focal_length), float(head.crop_size)
    results = []
    for i, sample in enumerate(samples):
        center = np.asarray(sample.bbox_center, np.float32).reshape(2)
        scale = np.asarray(sample.bbox_scale, np.float32).reshape(2)
        rotmat = torch.cat(
            [sample.pred_global_orient[None], sample.pred_body_pose], 0).cpu()
        aa = rotmat_to_axis_angle(rotmat).reshape(-1).numpy()
        cam = sample.pred_cam.cpu()
        kp2d = sample.pred_keypoints2d.cpu().numpy()
        out = dict(
            bbox_center=center,
            bbox_scale=scale,
            global_orient=aa[:3],
            body_pose=aa[3:],
            rotmat=rotmat.numpy(),
            betas=sample.pred_betas.cpu().numpy(),
            cam=cam.numpy(),
            translation=weak_perspective_to_translation(
                cam, focal, int(crop_size)).numpy(),
            focal_length=np.full(2, focal * scale[0] / crop_size, np.float32),
            principal_point=center.copy(),
            vertices=sample.pred_vertices.cpu().numpy(),
            keypoints3d=sample.pred_keypoints3d.cpu().numpy(),
            # [-1, 1] crop coordinates -> image pixels.
            keypoints2d=center + kp2d * scale / 2.0,
            crop=data[i]['inputs'].permute(1, 2, 0).numpy().copy())
        if views is not None:
            out['views_deg'] = np.asarray(views_deg, np.float32)
            out['view_vertices'] = views['vertices'][i].cpu().numpy()
            out['view_cams'] = views['cam'][i].cpu().numpy()
            if 'silhouette_logits' in views:
                out['view_silhouettes'] = torch.sigmoid(
                    views['silhouette_logits'][i]).cpu().numpy()
        results.append(out)
    return results
