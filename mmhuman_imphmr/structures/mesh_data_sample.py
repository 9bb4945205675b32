"""The data sample that carries one person crop through the pipeline."""
from mmengine.structures import BaseDataElement


class MeshDataSample(BaseDataElement):
    """Targets, flags and predictions of one person crop.

    The pack transform (``PackMeshInputs``) fills the ground truth; the
    estimator's ``predict`` fills ``pred_*``. All fields are optional: a
    sample without SMPL labels simply has ``has_smpl == 0``.

    Meta information (``sample.metainfo``):
        ``sample_idx`` (int), ``img_path`` (str), ``dataset_name`` (str),
        ``gender`` (``'neutral' | 'male' | 'female'``), ``bbox_center``
        (ndarray[2]), ``bbox_scale`` (ndarray[2]), ``input_size``
        (tuple[int, int]), ``flip`` (bool), ``rotation`` (float, degrees),
        ``label_type`` (str, one of ``utils.constants.LABEL_TYPES``): the
        label type of the sample's *dataset*, which routes the losses
        (DESIGN §3): ``'gt3d'`` (H36M, MPI-INF-3DHP with SMPL) feeds
        L_reg + L_imag, ``'pseudo_smpl'`` (EFT COCO / MPII / LSPET)
        L_reg + L_imag + L_cons, ``'2d_only'`` L_reg + L_cons. Within a
        loss each term stays masked by the sample's own flags below.

    Ground truth (data fields, tensors, camera frame, metres):
        ``gt_keypoints2d`` Tensor[49, 3]: SPIN's 49 joints in ``[-1, 1]`` crop
            coordinates plus a confidence column (0 = missing). As in SPIN,
            joints outside the crop keep their confidence (coordinates
            beyond ``[-1, 1]``) unless ``PackMeshInputs`` is built with
            ``drop_outside_keypoints=True``.
        ``gt_keypoints3d`` Tensor[24, 4]: SPIN's 24 GT joints plus confidence.
        ``gt_global_orient`` Tensor[3], ``gt_body_pose`` Tensor[69]: SMPL
            axis-angle pose in the camera frame (after augmentation).
        ``gt_betas`` Tensor[10].
        ``has_smpl`` Tensor[] (float 0/1), ``has_kp3d`` Tensor[] (float 0/1).

    Predictions (filled by ``predict``):
        ``pred_global_orient`` Tensor[3, 3], ``pred_body_pose``
        Tensor[23, 3, 3], ``pred_betas`` Tensor[10], ``pred_cam`` Tensor[3]
        (weak perspective ``s, tx, ty``), ``pred_vertices`` Tensor[6890, 3],
        ``pred_keypoints3d`` Tensor[49, 3], ``pred_keypoints2d``
        Tensor[49, 2] in ``[-1, 1]`` crop coordinates.
    """
