"""The SMPL body model: smplx's linear blend skinning and SPIN's joint sets."""
import contextlib
import io
import os.path as osp
from typing import Dict, Optional

import smplx
import torch
import torch.nn as nn
from smplx.utils import Struct

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import (JOINT_IDS, NUM_EXTRA_JOINTS,
                                            NUM_H36M_JOINTS, NUM_SMPL_JOINTS,
                                            NUM_SMPL_VERTICES)
from mmhuman_imphmr.utils.precision import fp32_region
from .smpl_file import (InvalidBodyModelFileError, body_model_files,
                        load_joint_regressor, load_smpl_model_file)

NUM_BODY_JOINTS = NUM_SMPL_JOINTS - 1  # 23 joints below the root


@MODELS.register_module()
class SMPL(nn.Module):
    """SMPL with SPIN's 49 joints and the 17 H36M evaluation joints.

    The model files are read by :func:`load_smpl_model_file` (no chumpy, no
    unrestricted unpickling) and handed to ``smplx.SMPL`` as ``data_struct``,
    so smplx never opens a file itself. Every tensor built from the licensed
    files is a non-persistent buffer: checkpoints never carry them.

    Args:
        model_path (str): Root of the body-model tree (``data/body_models``,
            see ``smpl_file.BODY_MODEL_TREE``), its ``smpl/`` folder, or a
            model file (``.pkl`` / ``.npz``). Default ``'data/body_models'``.
        gender (str): ``'neutral'``, ``'male'`` or ``'female'``.
        num_betas (int): Shape coefficients used (<= those in the file).
        joint_regressor_extra (str, optional): SPIN's 9 x 6890 regressor;
            default ``<root>/J_regressor_extra.npy``.
        joint_regressor_h36m (str, optional): 17 x 6890 regressor; default
            ``<root>/J_regressor_h36m.npy``.

    Note:
        B: batch size, V = 6890 vertices, F faces. The joints follow SPIN:
        ``joints = cat(smplx's 45 joints, J_regressor_extra @ vertices)``
        indexed with ``constants.JOINT_IDS`` (SPIN ``models/smpl.py``).
    """

    def __init__(self,
                 model_path: str = 'data/body_models',
                 gender: str = 'neutral',
                 num_betas: int = 10,
                 joint_regressor_extra: Optional[str] = None,
                 joint_regressor_h36m: Optional[str] = None) -> None:
        super().__init__()
        files = body_model_files(model_path, gender)
        self.model_file = files['smpl']
        data = load_smpl_model_file(self.model_file)
        num_verts = data['v_template'].shape[0]
        if num_verts != NUM_SMPL_VERTICES:
            # smplx's extra vertex joints (nose, toes, fingertips) index the
            # 6890-vertex SMPL topology.
            raise InvalidBodyModelFileError(
                f'{self.model_file}: key "v_template" has {num_verts} '
                f'vertices, expected {NUM_SMPL_VERTICES} (SMPL topology)')
        available = data['shapedirs'].shape[-1]
        if not 1 <= num_betas <= available:
            raise ValueError(f'num_betas={num_betas} but {self.model_file} '
                             f'has {available} shape components')
        self.gender = gender.lower()
        self.num_betas = num_betas
        # smplx prints a warning for every 10-beta SMPL file: silence it.
        with contextlib.redirect_stdout(io.StringIO()):
            self.smpl = smplx.SMPL(
                model_path=osp.dirname(self.model_file),
                data_struct=Struct(**data),
                num_betas=num_betas,
                gender=self.gender,
                create_betas=False,
                create_global_orient=False,
                create_body_pose=False,
                create_transl=False)
        for module in self.smpl.modules():
            for name in list(module._buffers):
                buf = module._buffers.pop(name)
                module.register_buffer(name, buf, persistent=False)

        extra = load_joint_regressor(
            joint_regressor_extra or files['J_regressor_extra'],
            NUM_EXTRA_JOINTS, num_verts)
        h36m = load_joint_regressor(
            joint_regressor_h36m or files['J_regressor_h36m'], NUM_H36M_JOINTS,
            num_verts)
        self.register_buffer(
            'J_regressor_extra', torch.from_numpy(extra), persistent=False)
        self.register_buffer(
            'J_regressor_h36m', torch.from_numpy(h36m), persistent=False)
        self.register_buffer(
            'joint_map',
            torch.tensor(JOINT_IDS, dtype=torch.long),
            persistent=False)
        self.register_buffer(
            'faces_tensor', self.smpl.faces_tensor.clone(), persistent=False)

    @property
    def faces(self):
        """Faces as an int64 ndarray (F, 3)."""
        return self.faces_tensor.cpu().numpy()

    def _check_inputs(self, inputs: Dict[str, Optional[torch.Tensor]],
                      pose2rot: bool) -> int:
        """Check shapes against the documented ones; return the batch size."""
        if pose2rot:
            accepted = dict(
                global_orient=[(3, ), (1, 3)],
                body_pose=[(NUM_BODY_JOINTS * 3, ), (NUM_BODY_JOINTS, 3)])
            hint = 'axis-angle: global_orient [B, 3], body_pose [B, 69]'
        else:
            accepted = dict(
                global_orient=[(1, 3, 3), (3, 3)],
                body_pose=[(NUM_BODY_JOINTS, 3, 3)])
            hint = ('rotation matrices: global_orient [B, 1, 3, 3], '
                    'body_pose [B, 23, 3, 3]')
        accepted.update(betas=[(self.num_betas, )], transl=[(3, )])
        inputs = {k: v for k, v in inputs.items() if v is not None}
        for name, value in inputs.items():
            if not torch.is_tensor(value):
                raise TypeError(f'SMPL.forward: {name} must be a Tensor, '
                                f'found {type(value).__name__}')
        batch = {v.shape[0] for v in inputs.values() if v.dim()}
        if len(batch) != 1 or any(
                tuple(v.shape[1:]) not in accepted[k]
                for k, v in inputs.items()):
            found = {k: tuple(v.shape) for k, v in inputs.items()}
            raise ValueError(
                f'SMPL.forward(pose2rot={pose2rot}) expects {hint}, '
                f'betas [B, {self.num_betas}], transl [B, 3] or None, with '
                f'one batch size B; found {found}')
        return batch.pop()

    @fp32_region
    def forward(self,
                global_orient: torch.Tensor,
                body_pose: torch.Tensor,
                betas: torch.Tensor,
                transl: Optional[torch.Tensor] = None,
                pose2rot: bool = True) -> Dict[str, torch.Tensor]:
        """Pose and shape the body.

        Args:
            global_orient (Tensor): Root rotation, ``Tensor[B, 3]``
                axis-angle (pose2rot=True) or ``Tensor[B, 1, 3, 3]``
                (pose2rot=False).
            body_pose (Tensor): ``Tensor[B, 69]`` axis-angle or
                ``Tensor[B, 23, 3, 3]`` rotation matrices.
            betas (Tensor): ``Tensor[B, num_betas]``.
            transl (Tensor, optional): ``Tensor[B, 3]`` added to everything.
            pose2rot (bool): Whether the poses are axis-angle.

        Returns:
            dict: ``vertices`` Tensor[B, 6890, 3], ``joints`` Tensor[B, 49, 3]
            (SPIN's 49), ``joints_h36m`` Tensor[B, 17, 3], ``smpl_joints``
            Tensor[B, 24, 3].
        """
        B = self._check_inputs(
            dict(
                global_orient=global_orient,
                body_pose=body_pose,
                betas=betas,
                transl=transl), pose2rot)
        dtype = self.smpl.shapedirs.dtype
        device = self.smpl.shapedirs.device
        if B == 0:
            # lbs reshapes with -1, which is undefined for empty tensors.
            empty = global_orient.new_zeros
            return dict(
                vertices=empty(0, NUM_SMPL_VERTICES, 3),
                joints=empty(0, len(JOINT_IDS), 3),
                joints_h36m=empty(0, NUM_H36M_JOINTS, 3),
                smpl_joints=empty(0, NUM_SMPL_JOINTS, 3))
        if pose2rot:
            global_orient = global_orient.reshape(B, 3)
            body_pose = body_pose.reshape(B, NUM_BODY_JOINTS * 3)
        else:
            global_orient = global_orient.reshape(B, 1, 3, 3)
            body_pose = body_pose.reshape(B, NUM_BODY_JOINTS, 3, 3)
        output = self.smpl(
            global_orient=global_orient.to(device, dtype),
            body_pose=body_pose.to(device, dtype),
            betas=betas.to(device, dtype),
            transl=None if transl is None else transl.to(device, dtype),
            pose2rot=pose2rot)
        vertices = output.vertices  # (B, V, 3)
        extra = torch.einsum('jv,bvc->bjc', self.J_regressor_extra, vertices)
        all_joints = torch.cat([output.joints, extra], dim=1)  # (B, 54, 3)
        joints_h36m = torch.einsum('jv,bvc->bjc', self.J_regressor_h36m,
                                   vertices)
        return dict(
            vertices=vertices,
            joints=all_joints[:, self.joint_map],
            joints_h36m=joints_h36m,
            smpl_joints=output.joints[:, :NUM_SMPL_JOINTS])

    def extra_repr(self) -> str:
        return (f'model_file={self.model_file!r}, gender={self.gender!r}, '
                f'num_betas={self.num_betas}')
