"""Joint maps, subsets and flip permutations, in one place.

The 49-joint layout is SPIN's (Kolotouros et al. 2019): 25 OpenPose-style
joints followed by 24 "ground-truth" joints (the LSP 14, MPII pelvis/thorax,
H36M spine/jaw/head and five face points). Each of the 49 is taken from the
45 joints smplx's ``SMPL`` returns (24 skeleton joints + 21 vertex joints:
face, feet, fingertips) or from the 9 joints regressed with
``J_regressor_extra``, appended as indices 45..53. The index table follows
SPIN's ``constants.py``.
"""
from typing import Dict, List

# ----------------------------------------------------------------------------
# SMPL skeleton
SMPL_JOINT_NAMES: List[str] = [
    'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee',
    'spine2', 'left_ankle', 'right_ankle', 'spine3', 'left_foot', 'right_foot',
    'neck', 'left_collar', 'right_collar', 'head', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hand', 'right_hand'
]
NUM_SMPL_JOINTS = 24
NUM_SMPL_VERTICES = 6890
NUM_BETAS = 10
# Parent of each SMPL joint (kintree_table[0]; -1 marks the root).
SMPL_PARENTS: List[int] = [
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    20, 21
]
# Left/right swap of the 24 SMPL joints.
SMPL_JOINTS_FLIP_PERM: List[int] = [
    0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21,
    20, 23, 22
]
# The same swap on the 72-vector of axis-angle pose (3 entries per joint).
SMPL_POSE_FLIP_PERM: List[int] = [
    3 * j + k for j in SMPL_JOINTS_FLIP_PERM for k in range(3)
]

# Vertex joints smplx appends to the 24 skeleton joints of SMPL (in order), as
# smplx's ``vertex_ids['smplh']``: face, feet, then fingertips -> 45 joints.
SMPLX_VERTEX_JOINT_NAMES: List[str] = [
    'nose', 'reye', 'leye', 'rear', 'lear', 'LBigToe', 'LSmallToe', 'LHeel',
    'RBigToe', 'RSmallToe', 'RHeel', 'lthumb', 'lindex', 'lmiddle', 'lring',
    'lpinky', 'rthumb', 'rindex', 'rmiddle', 'rring', 'rpinky'
]
NUM_SMPLX_JOINTS = 45

# ----------------------------------------------------------------------------
# SPIN's 49 joints
OPENPOSE_JOINT_NAMES: List[str] = [
    'OP Nose', 'OP Neck', 'OP RShoulder', 'OP RElbow', 'OP RWrist',
    'OP LShoulder', 'OP LElbow', 'OP LWrist', 'OP MidHip', 'OP RHip',
    'OP RKnee', 'OP RAnkle', 'OP LHip', 'OP LKnee', 'OP LAnkle', 'OP REye',
    'OP LEye', 'OP REar', 'OP LEar', 'OP LBigToe', 'OP LSmallToe', 'OP LHeel',
    'OP RBigToe', 'OP RSmallToe', 'OP RHeel'
]
GT_JOINT_NAMES: List[str] = [
    'Right Ankle', 'Right Knee', 'Right Hip', 'Left Hip', 'Left Knee',
    'Left Ankle', 'Right Wrist', 'Right Elbow', 'Right Shoulder',
    'Left Shoulder', 'Left Elbow', 'Left Wrist', 'Neck (LSP)',
    'Top of Head (LSP)', 'Pelvis (MPII)', 'Thorax (MPII)', 'Spine (H36M)',
    'Jaw (H36M)', 'Head (H36M)', 'Nose', 'Left Eye', 'Right Eye', 'Left Ear',
    'Right Ear'
]
JOINT_NAMES: List[str] = OPENPOSE_JOINT_NAMES + GT_JOINT_NAMES
NUM_JOINTS = 49  # 25 OpenPose + 24 GT
NUM_OPENPOSE_JOINTS = 25
NUM_GT_JOINTS = 24
NUM_EXTRA_JOINTS = 9  # rows of J_regressor_extra

# Index of each of the 49 joints in [45 smplx joints ++ 9 extra joints].
JOINT_MAP: Dict[str, int] = {
    'OP Nose': 24,
    'OP Neck': 12,
    'OP RShoulder': 17,
    'OP RElbow': 19,
    'OP RWrist': 21,
    'OP LShoulder': 16,
    'OP LElbow': 18,
    'OP LWrist': 20,
    'OP MidHip': 0,
    'OP RHip': 2,
    'OP RKnee': 5,
    'OP RAnkle': 8,
    'OP LHip': 1,
    'OP LKnee': 4,
    'OP LAnkle': 7,
    'OP REye': 25,
    'OP LEye': 26,
    'OP REar': 27,
    'OP LEar': 28,
    'OP LBigToe': 29,
    'OP LSmallToe': 30,
    'OP LHeel': 31,
    'OP RBigToe': 32,
    'OP RSmallToe': 33,
    'OP RHeel': 34,
    'Right Ankle': 8,
    'Right Knee': 5,
    'Right Hip': 45,
    'Left Hip': 46,
    'Left Knee': 4,
    'Left Ankle': 7,
    'Right Wrist': 21,
    'Right Elbow': 19,
    'Right Shoulder': 17,
    'Left Shoulder': 16,
    'Left Elbow': 18,
    'Left Wrist': 20,
    'Neck (LSP)': 47,
    'Top of Head (LSP)': 48,
    'Pelvis (MPII)': 49,
    'Thorax (MPII)': 50,
    'Spine (H36M)': 51,
    'Jaw (H36M)': 52,
    'Head (H36M)': 53,
    'Nose': 24,
    'Left Eye': 26,
    'Right Eye': 25,
    'Left Ear': 28,
    'Right Ear': 27
}
JOINT_IDS: List[int] = [JOINT_MAP[name] for name in JOINT_NAMES]
# The 9 rows of J_regressor_extra, in order (indices 45..53 above).
EXTRA_JOINT_NAMES: List[str] = [
    'Right Hip', 'Left Hip', 'Neck (LSP)', 'Top of Head (LSP)',
    'Pelvis (MPII)', 'Thorax (MPII)', 'Spine (H36M)', 'Jaw (H36M)',
    'Head (H36M)'
]

# Left/right swap of the 24 GT joints and of all 49.
J24_FLIP_PERM: List[int] = [
    5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 15, 16, 17, 18, 19, 21,
    20, 23, 22
]
OPENPOSE_FLIP_PERM: List[int] = [
    0, 1, 5, 6, 7, 2, 3, 4, 8, 12, 13, 14, 9, 10, 11, 16, 15, 18, 17, 22, 23,
    24, 19, 20, 21
]
J49_FLIP_PERM: List[int] = OPENPOSE_FLIP_PERM + [
    NUM_OPENPOSE_JOINTS + i for i in J24_FLIP_PERM
]

# Pelvis of the 49 joints for 3D alignment in training losses: SPIN aligns on
# the mean of the two GT hips.
GT_RIGHT_HIP = NUM_OPENPOSE_JOINTS + GT_JOINT_NAMES.index('Right Hip')
GT_LEFT_HIP = NUM_OPENPOSE_JOINTS + GT_JOINT_NAMES.index('Left Hip')

# ----------------------------------------------------------------------------
# Evaluation joints: 17 H36M joints regressed with J_regressor_h36m.
H36M_JOINT_NAMES: List[str] = [
    'Pelvis', 'Right Hip', 'Right Knee', 'Right Ankle', 'Left Hip',
    'Left Knee', 'Left Ankle', 'Spine', 'Thorax', 'Neck/Nose', 'Head',
    'Left Shoulder', 'Left Elbow', 'Left Wrist', 'Right Shoulder',
    'Right Elbow', 'Right Wrist'
]
NUM_H36M_JOINTS = 17
H36M_PELVIS = 0
# H36M joints in LSP order: the first 14 are the 14 LSP joints used by the
# 3DPW protocol; 14..16 are pelvis, spine, head.
H36M_TO_J17: List[int] = [
    6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9
]
H36M_TO_J14: List[int] = H36M_TO_J17[:14]
# The LSP 14 within the 24 GT joints (and within the 49: add 25).
J24_TO_J14: List[int] = list(range(14))
LSP14_JOINT_NAMES: List[str] = GT_JOINT_NAMES[:14]
# Pelvis of the 14 LSP joints used for root alignment: mean of the hips.
LSP14_RIGHT_HIP = 2
LSP14_LEFT_HIP = 3

# ----------------------------------------------------------------------------
# Camera conventions (SPIN): weak perspective on a square crop.
FOCAL_LENGTH = 5000.0
CROP_SIZE = 224

# ----------------------------------------------------------------------------
# Label types of a dataset: what its annotations are, hence which of ImpHMR's
# losses its samples feed (paper sec. 3.4 / 4, DESIGN §3; the routing itself
# is mmhuman_imphmr.models.estimators.loss_routing.LabelTypeRouting).
#   'gt3d':        measured 3D ground truth with SMPL (H36M / MPI-INF-3DHP
#                  with MoSh / fitted SMPL, the synthetic data).
#   'pseudo_smpl': in-the-wild images whose SMPL is a fit to 2D keypoints
#                  (EFT COCO / MPII / LSPET); no 3D joints.
#   '2d_only':     2D keypoints only.
LABEL_TYPE_GT3D = 'gt3d'
LABEL_TYPE_PSEUDO_SMPL = 'pseudo_smpl'
LABEL_TYPE_2D = '2d_only'
LABEL_TYPES = (LABEL_TYPE_GT3D, LABEL_TYPE_PSEUDO_SMPL, LABEL_TYPE_2D)

# ----------------------------------------------------------------------------
# GIRAFFE's camera and depth range (Niemeyer & Geiger 2021, generator /
# camera defaults), shared by the volume renderer and every view-aware neck.
GIRAFFE_CAMERA_RADIUS = 2.732
GIRAFFE_FOV = 49.13  # degrees
GIRAFFE_NEAR = 0.5
GIRAFFE_FAR = 6.0
