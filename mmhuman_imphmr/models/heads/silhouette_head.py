"""Geometric guidance branch: silhouette from the rendered feature map.

Paper sec. 3.3 / 6.1: "5 layers of transposed convolution along with BN and
ReLU", output 128x128, used only for training, supervised with the squared L2
distance to the GT silhouette of the mesh seen from the same view. The head
makes its own targets: the GT SMPL mesh turned by ``-phi`` about its pelvis,
rendered by a configurable rasterizer (the built-in ``MeshRasterizer``, or the
registered ``PyTorch3DRasterizer`` where pytorch3d is installed) with the GT
camera.
"""
import copy
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.renderer.view_silhouette import render_view_silhouettes
from mmhuman_imphmr.utils.constants import (CROP_SIZE, FOCAL_LENGTH,
                                            GT_LEFT_HIP, GT_RIGHT_HIP)
from mmhuman_imphmr.utils.geometry import weak_perspective_to_translation
from mmhuman_imphmr.utils.precision import fp32_region
from mmhuman_imphmr.utils.typing import ConfigType, LossDict, OptConfigType
from ..estimators.loss_routing import ViewPlan
from ..utils.gemm_conv import GemmConvTranspose2d


def fit_weak_perspective(joints: torch.Tensor,
                         keypoints2d: torch.Tensor,
                         min_visible: int = 4
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The GT camera: weak perspective that best maps GT joints to GT 2D.

    SPIN's datasets have no camera; SPIN estimates it from the GT model joints
    and the 2D keypoints (``estimate_translation``). We solve the weak
    perspective version in closed form: ``k = s X_xy + s t``, confidence
    weighted least squares in ``(s, s tx, s ty)``.

    Args:
        joints (Tensor[B, K, 3]): Model joints of the GT mesh (no translation).
        keypoints2d (Tensor[B, K, 3]): GT keypoints in ``[-1, 1]`` crop
            coordinates plus confidence.
        min_visible (int): Assumption (the paper never needs a GT camera):
            fewer visible keypoints make the fit unreliable. Defaults to 4.

    Returns:
        tuple: ``cam Tensor[B, 3]`` ``(s, tx, ty)`` and ``ok Tensor[B]``
        (bool): the fit is usable (enough keypoints, ``s > 1e-3``).
    """
    w = keypoints2d[..., 2].clamp(min=0)  # (B, K)
    x, k = joints[..., :2], keypoints2d[..., :2]
    sw = w.sum(-1).clamp(min=1e-8)
    x_mean = (w[..., None] * x).sum(1) / sw[:, None]  # (B, 2)
    k_mean = (w[..., None] * k).sum(1) / sw[:, None]
    xc, kc = x - x_mean[:, None], k - k_mean[:, None]
    s = (w[..., None] * xc * kc).sum((1, 2)) / ((w[..., None] * xc * xc).sum(
        (1, 2)).clamp(min=1e-8))
    t = k_mean / s.clamp(min=1e-8)[:, None] - x_mean  # (B, 2)
    cam = torch.cat([s[:, None], t], dim=1)
    ok = ((keypoints2d[..., 2] > 0).sum(-1) >= min_visible) & (s > 1e-3)
    return cam, ok


@MODELS.register_module()
class SilhouetteHead(BaseModule):
    """Deconvolution decoder ``C x s x s -> 1 x 128 x 128`` (logits).

    Choices the paper leaves open (named arguments):

    * Widths: five ``ConvTranspose2d(k=4, s=2, p=1) + BN + ReLU`` blocks of
      ``channels`` (default 256, 128, 64, 32, 16: an assumption, halving the
      width as the resolution doubles keeps every block at the same cost;
      a constant 256 makes this training-only branch cost as much as the
      ResNet-50 backward), i.e. the paper's 5 layers literally, each
      doubling the size: 4 -> 128.
    * Output: a ReLU cannot end a logit/probability layer (it would clamp
      half of the range to a constant), so a ``1 x 1`` convolution after the
      fifth block maps the features to one logit channel, with no BN/ReLU.
      The loss applies a sigmoid.
    * Other map sizes (1, 2, 6 in the paper's ablation): the map is first
      resized to ``input_size x input_size`` (bilinear up, adaptive average
      pooling down), so the decoder is the same network for every map size
      and the comparison isolates the rendering resolution.

    Args:
        in_channels (int): Channels of the rendered map. Defaults to 2048.
        channels (Sequence[int]): Width of each deconv block. Defaults to
            ``(256, 128, 64, 32, 16)``.
        input_size (int): Side the map is resized to. Defaults to 4.
        out_size (int): Output side; must equal
            ``input_size * 2 ** len(channels)``. Defaults to 128.
        loss (dict): The registered loss. Defaults to
            ``SilhouetteLoss(loss_weight=30)`` (paper: lambda_silh = 30).
        rasterizer (dict): Renderer of the targets, built at ``out_size``
            with the crop camera scaled to it; ``type`` is
            ``'MeshRasterizer'`` (default) or ``'PyTorch3DRasterizer'``.
        focal_length (float): Focal length of the crop camera. Defaults to
            SPIN's 5000 (must match the regression head's).
        crop_size (int): Crop side the focal length refers to. Defaults to
            224 (SPIN).
        init_cfg (dict, optional): MMEngine init config. Defaults to Kaiming
            init for the deconvolutions.

    Note:
        N: samples (``B * V``), C: ``in_channels``, s: rendered map side.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 channels: Sequence[int] = (256, 128, 64, 32, 16),
                 input_size: int = 4,
                 out_size: int = 128,
                 loss: ConfigType = dict(
                     type='SilhouetteLoss', loss_weight=30.),
                 rasterizer: ConfigType = dict(type='MeshRasterizer'),
                 focal_length: float = FOCAL_LENGTH,
                 crop_size: int = CROP_SIZE,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(
                    type='Kaiming',
                    layer='ConvTranspose2d',
                    mode='fan_out',
                    nonlinearity='relu'),
                dict(type='Constant', val=1, bias=0, layer='BatchNorm2d'),
            ]
        super().__init__(init_cfg=init_cfg)
        channels = tuple(channels)
        if not channels:
            raise ValueError('SilhouetteHead needs at least one deconv block')
        if input_size * 2**len(channels) != out_size:
            raise ValueError(
                f'SilhouetteHead: input_size {input_size} doubled '
                f'{len(channels)} times is {input_size * 2**len(channels)}, '
                f'not out_size {out_size}')
        self.in_channels = in_channels
        self.input_size = input_size
        self.out_size = out_size
        self.loss_module = MODELS.build(loss)
        self.focal_length = float(focal_length)
        self.crop_size = int(crop_size)
        raster = copy.deepcopy(dict(rasterizer))
        raster.setdefault('image_size', out_size)
        raster.setdefault('focal_length',
                          self.focal_length * out_size / self.crop_size)
        self.rasterizer = MODELS.build(raster)
        layers = []
        prev = in_channels
        for width in channels:
            layers += [
                # = nn.ConvTranspose2d (same weights); faster on the CPU
                # for the first, 4 x 4 input block (see GemmConvTranspose2d)
                GemmConvTranspose2d(
                    prev, width, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            prev = width
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(prev, 1, kernel_size=1)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        size = self.input_size
        if x.shape[-2:] == (size, size):
            return x
        if x.shape[-2] >= size and x.shape[-1] >= size:
            return F.adaptive_avg_pool2d(x, size)
        return F.interpolate(
            x, size=(size, size), mode='bilinear', align_corners=False)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Decode silhouette logits.

        Args:
            feature_map (Tensor[N, C, s, s]): Rendered feature maps.

        Returns:
            Tensor[N, 1, 128, 128]: Logits (``sigmoid`` gives the mask).
        """
        if feature_map.dim() != 4 or feature_map.shape[1] != self.in_channels:
            raise ValueError(f'SilhouetteHead expects [N, {self.in_channels}, '
                             f'H, W], found {tuple(feature_map.shape)}')
        x = self._resize(feature_map)  # (N, C, input_size, input_size)
        return self.final_layer(self.deconv_layers(x))

    @property
    def loss_weight(self) -> float:
        return float(self.loss_module.loss_weight)

    @torch.no_grad()
    @fp32_region  # the rasterizer and the GT mesh in float32 under AMP
    def make_targets(self, body_model: nn.Module, targets: Dict[str,
                                                                torch.Tensor],
                     phi: torch.Tensor) -> tuple:
        """``S_{-phi}``: the GT mesh turned by ``-phi`` about its pelvis.

        The camera is the weak perspective fitted to the GT joints and 2D
        keypoints (:func:`fit_weak_perspective`); a sample whose fit fails
        gets no silhouette term (an assumption: earlier versions used the
        predicted camera there, which made the target depend on the
        prediction).

        Args:
            body_model (nn.Module): The SMPL model (the regression head's).
            targets (dict): ``rotmat``, ``betas``, ``keypoints2d`` of the
                samples to render (``view_supervision.stack_targets``).
            phi (Tensor[N]): Azimuth per sample, radians.

        Returns:
            tuple: ``Tensor[N, out_size, out_size]`` 0/1 masks and
            ``Tensor[N]`` float, 1 where the camera fit is usable.
        """
        rotmat = targets['rotmat']
        out = body_model(
            global_orient=rotmat[:, :1],
            body_pose=rotmat[:, 1:],
            betas=targets['betas'],
            pose2rot=False)
        joints = out['joints']  # (N, 49, 3)
        pelvis = 0.5 * (joints[:, GT_RIGHT_HIP] + joints[:, GT_LEFT_HIP])
        cam, ok = fit_weak_perspective(joints, targets['keypoints2d'])
        cam = torch.where(ok[:, None], cam, torch.ones_like(cam))
        translation = weak_perspective_to_translation(
            cam, focal_length=self.focal_length, crop_size=self.crop_size)
        silh = render_view_silhouettes(
            out['vertices'],
            body_model.faces_tensor,
            pelvis,
            phi,
            translation,
            rasterizer=self.rasterizer)
        return silh, ok.to(silh.dtype)

    def loss(self, feature_map: torch.Tensor, targets: Dict[str, torch.Tensor],
             plan: ViewPlan, body_model: nn.Module) -> LossDict:
        """The silhouette term of ``L_imag`` at the imagination views.

        Only the samples the routing weighs (label types that feed L_imag,
        with SMPL) are decoded and rendered; with none, one zero-weight
        sample keeps the head in the graph (DDP).

        Args:
            feature_map (Tensor[B*V, C, H, W]): Rendered maps of the views
                ``plan.phi`` (row ``b*V + v``; column 1 is the imagined view).
            targets (dict): From ``view_supervision.stack_targets``.
            plan (ViewPlan): With ``weights['imag']['silhouette']``.
            body_model (nn.Module): To pose the GT mesh.

        Returns:
            dict: ``{'loss_imag_silhouette': Tensor[]}``.
        """
        num_views = plan.phi.shape[1]
        weight = plan.weights['imag']['silhouette']
        idx = torch.nonzero(weight > 0)[:, 0]
        weight = weight[idx]
        if idx.numel() == 0:
            idx, weight = idx.new_zeros(1), plan.phi.new_zeros(1)
        fmap = feature_map[idx * num_views + 1]  # (N, C, H, W) imagined view
        logits = self(fmap)[:, 0]
        silh, ok = self.make_targets(
            body_model,
            {k: targets[k][idx]
             for k in ('rotmat', 'betas', 'keypoints2d')}, plan.imag_phi[idx])
        return self.loss_by_feat(logits, silh, weight * ok, prefix='imag')

    def loss_by_feat(self,
                     logits: torch.Tensor,
                     target: torch.Tensor,
                     sample_weight: Optional[torch.Tensor] = None,
                     prefix: str = 'imag') -> Dict[str, torch.Tensor]:
        """lambda_silh * squared L2 between ``sigmoid(logits)`` and target.

        Args:
            logits (Tensor[N, 1, H, W] | Tensor[N, H, W]): :meth:`forward`.
            target (Tensor[N, H, W]): 0/1 GT silhouette of the same view.
            sample_weight (Tensor[N], optional): Per-sample weight.
            prefix (str): Key ``loss_{prefix}_silhouette``. Defaults to
                ``'imag'`` (the term belongs to L_imag).

        Returns:
            dict: ``{'loss_{prefix}_silhouette': Tensor[]}``.
        """
        return {
            f'loss_{prefix}_silhouette':
            self.loss_module(logits, target, sample_weight)
        }
