"""One HumanData ``.npz`` file as an MMEngine dataset."""
import os.path as osp
import warnings
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from mmhuman_imphmr.registry import DATASETS
from mmhuman_imphmr.utils.constants import J49_FLIP_PERM, NUM_JOINTS
from .human_data_cache import GENDERS, load_or_build_cache, open_cache
from .label_type import check_label_type, resolve_label_type

_IMAGE_SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'BM', b'II*\x00',
                     b'MM\x00*')


def image_file_problem(path: str) -> Optional[str]:
    """None for a plausible image file, else ``'not found'``, ``'empty'`` or
    ``'not an image (starts with ...)'`` (reads 16 bytes)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
    except FileNotFoundError:
        return 'not found'
    except IsADirectoryError:
        return 'not found'
    except OSError as exc:
        return f'unreadable ({exc.strerror})'
    if not head:
        return 'empty (0 bytes)'
    if head.startswith(_IMAGE_SIGNATURES) or (head[:4] == b'RIFF'
                                              and head[8:12] == b'WEBP'):
        return None
    return 'not a JPEG/PNG/BMP/TIFF/WebP image'


@DATASETS.register_module()
class HumanImageDataset(BaseDataset):
    """Person crops with SMPL / keypoint labels from a HumanData ``.npz``.

    The file follows mmhuman3d's HumanData key schema (``image_path`` (N,),
    ``bbox_xywh`` (N, 5) or (N, 4), optional ``keypoints2d`` (N, K, 3) and
    ``keypoints3d`` (N, K, 4) with ``keypoints{2,3}d_mask`` (K,), possibly
    mask-compressed; optional ``smpl`` dict with ``global_orient`` (N, 3),
    ``body_pose`` (N, 23, 3) or (N, 69), ``betas`` (N, >=10); optional
    ``has_smpl`` (N,); optional ``meta`` dict with ``gender`` (N,) of
    ``'m'/'f'/'male'/'female'/'neutral'`` or SPIN/PARE's integer codes
    0 = male, 1 = female). Keypoints are mapped to SPIN's 49 by
    :mod:`.keypoint_mapping`.

    Every dataset has one *label type* (``utils.constants.LABEL_TYPES``),
    which decides the losses its samples feed (DESIGN §3): ``'gt3d'``
    (H36M, MPI-INF-3DHP with SMPL) L_reg + L_imag; ``'pseudo_smpl'`` (EFT
    COCO / MPII / LSPET) L_reg + L_imag + L_cons; ``'2d_only'`` L_reg +
    L_cons. It is written into every sample (``label_type``);
    :mod:`.label_type` warns when the file's labels contradict it.

    Annotations are never turned into N Python dicts: the file is validated
    and converted once into memory-mapped ``.npy`` arrays
    (:mod:`.human_data_cache`) and :meth:`get_data_info` reads one row of each
    on demand, so a 300k-sample file costs every dataloader worker nothing
    but shared page cache (``serialize_data`` is always False).

    Args:
        ann_file (str): The ``.npz`` (joined with ``data_root`` if relative).
        data_prefix (dict): ``img_path``: folder the file's ``image_path``
            entries are relative to. Default ``dict(img_path='')``.
        pipeline (list): Transforms.
        dataset_name (str, optional): Written into every sample; default the
            file's stem.
        label_type (str, optional): One of ``LABEL_TYPES``, written into
            every sample. Configs should declare it; None infers it from the
            file's labels (any sample with SMPL and 3D joints: ``'gt3d'``;
            SMPL only: ``'pseudo_smpl'``; else ``'2d_only'``) and logs one
            WARNING line saying what was inferred. Defaults to None.
        keypoint_convention (str, optional): Convention of the file's
            keypoints when the file does not record one
            (``keypoints2d_convention``); None means mmhuman3d's default
            ``'human_data'``. See :data:`.keypoint_mapping.CONVENTIONS`.
        cache_dir (str, optional): Root of the array cache; default
            ``<ann_file folder>/.humandata_cache`` (or ``~/.cache/...`` when
            that folder is read-only).
        on_missing_image (str): ``'raise'`` (default): a missing image fails
            when the dataset is built (with ``check_images``), an unreadable
            one when it is loaded, naming the file and sample index.
            ``'skip'``: such samples (and, with ``on_bad_bbox='skip'``,
            degenerate boxes) are counted by reason and another sample is
            served instead (training only; mmengine refuses replacements in
            ``test_mode``). The training configs skip.
        check_images (bool): Check every image at build time: it exists, is
            not empty and starts with a JPEG / PNG / BMP / TIFF / WebP
            signature (one ``open`` + 16-byte read per file, with a progress
            bar for large files and a one-line summary). Decoding every
            image would take tens of minutes for 300k images, so an image
            that is damaged after its first bytes is found when it is
            loaded (and skipped under ``'skip'``). Defaults to False
            (annotation-only uses and tests have no images); the training
            configs set True.
        on_bad_bbox (str): Boxes with a non-positive or below-1-pixel width
            or height are reported at build with their indices. ``'raise'``
            (default) refuses the file; ``'skip'`` serves other samples.
        max_bad_fraction (float): The run stops (at build, and in each
            process while training) when more than this fraction of the
            samples is missing, unreadable or degenerate: the data is
            mostly broken. Defaults to 0.5.
        data_root, metainfo, indices, test_mode, lazy_init, max_refetch: As
            in :class:`mmengine.dataset.BaseDataset`; ``indices`` may be an
            int (first n samples) or a sequence of indices.

    Note:
        Each item (before the pipeline) is a dict with ``img_path`` (str),
        ``bbox`` ndarray[1, 4] xyxy float32, ``bbox_score`` ndarray[1],
        ``keypoints`` ndarray[1, 49, 2] pixels, ``keypoints_visible``
        ndarray[1, 49] (confidence, 0 = missing), ``keypoints3d``
        ndarray[24, 4] (metres, last column confidence), ``smpl_global_orient``
        ndarray[3], ``smpl_body_pose`` ndarray[69], ``smpl_betas``
        ndarray[10] (axis-angle, zeros when absent), ``has_smpl`` /
        ``has_kp3d`` int 0/1, ``gender`` str, ``sample_idx`` int,
        ``dataset_name`` str, ``label_type`` str (the dataset's, one of
        ``LABEL_TYPES``), ``flip_indices`` list[int] (SPIN's 49).
    """
    METAINFO: dict = dict(
        keypoint_convention='smpl_49',
        num_keypoints=NUM_JOINTS,
        flip_indices=J49_FLIP_PERM)

    def __init__(self,
                 ann_file: str,
                 data_prefix: dict = dict(img_path=''),
                 pipeline: List[Union[dict, Any]] = [],
                 dataset_name: Optional[str] = None,
                 label_type: Optional[str] = None,
                 keypoint_convention: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 on_missing_image: str = 'raise',
                 check_images: bool = False,
                 on_bad_bbox: str = 'raise',
                 max_bad_fraction: float = 0.5,
                 data_root: Optional[str] = '',
                 metainfo: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        if on_missing_image not in ('raise', 'skip'):
            raise ValueError(f'{ann_file}: on_missing_image must be "raise" '
                             f'or "skip", found {on_missing_image!r}')
        if on_bad_bbox not in ('raise', 'skip'):
            raise ValueError(f'{ann_file}: on_bad_bbox must be "raise" or '
                             f'"skip", found {on_bad_bbox!r}')
        if not 0.0 <= float(max_bad_fraction) <= 1.0:
            raise ValueError(f'{ann_file}: max_bad_fraction must be in '
                             f'[0, 1], found {max_bad_fraction!r}')
        self.on_missing_image = on_missing_image
        self.on_bad_bbox = on_bad_bbox
        self.max_bad_fraction = float(max_bad_fraction)
        self._skip_counts: Counter = Counter()
        self._num_served = 0
        # The declared type (None: infer); `label_type` is the resolved one.
        self.declared_label_type = check_label_type(
            label_type, osp.join(data_root or '', ann_file))
        self._label_type: Optional[str] = None
        self.check_images = check_images
        # dataset index -> why it is skipped (found at build or on load)
        self._bad_samples: Dict[int, str] = {}
        self._num_skipped = 0
        self.keypoint_convention = keypoint_convention
        self.cache_dir = cache_dir
        self.dataset_name = dataset_name or osp.splitext(
            osp.basename(ann_file))[0]
        self._cache_folder: Optional[str] = None
        self._arrays: Optional[Dict[str, np.ndarray]] = None
        self._sample_index: Optional[np.ndarray] = None
        self._num_samples = 0
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            filter_cfg=None,
            indices=indices,
            serialize_data=False,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    # -- loading ---------------------------------------------------------
    def full_init(self) -> None:
        """Validate/cache the file and open its arrays (no per-sample dict)."""
        if self._fully_initialized:
            return
        self._cache_folder = load_or_build_cache(self.ann_file,
                                                 self.keypoint_convention,
                                                 self.cache_dir)
        num = len(self.arrays['image_path'])
        if self._indices is None:
            index = None  # identity: nothing per sample to pickle
        elif isinstance(self._indices, int):
            index = np.arange(min(self._indices, num))
        else:
            index = np.asarray(self._indices, dtype=np.int64).reshape(-1)
            if index.size and (index.min() < -num or index.max() >= num):
                raise IndexError(f'{self.ann_file}: indices out of range for '
                                 f'{num} samples')
            index = index % num
        if index is not None and index.size == 0:
            raise ValueError(f'{self.ann_file}: the dataset is empty after '
                             f'indices={self._indices!r}')
        self._sample_index = index
        self._num_samples = num if index is None else int(index.size)
        self._label_type = resolve_label_type(
            self.declared_label_type,
            self.ann_file,
            self._flags('has_smpl'),
            self._flags('has_kp3d'),
            check_kp3d=not self.test_mode)
        self._fully_initialized = True
        self._check_bboxes()
        if self.check_images:
            self._check_image_files()

    def _flags(self, key: str) -> np.ndarray:
        """``has_smpl`` / ``has_kp3d`` (N,) bool of the selected samples."""
        flags = np.asarray(self.arrays[key]) > 0
        return flags if self._sample_index is None else \
            flags[self._sample_index]

    @property
    def label_type(self) -> str:
        """The dataset's label type (declared, or inferred from the file)."""
        if not self._fully_initialized:
            self.full_init()
        return self._label_type

    def _index(self) -> np.ndarray:
        """File row of every dataset index."""
        return np.arange(self._num_samples) if self._sample_index is None \
            else self._sample_index

    def _mark_bad(self, found: List[int], reason: str, policy: str, what: str,
                  hint: str, error: type) -> None:
        """Report ``found`` dataset indices; raise or record them."""
        if not found:
            return
        listing = ', '.join(map(str, found[:10]))
        more = f', ... (+{len(found) - 10} more)' if len(found) > 10 else ''
        msg = (f'{self.ann_file}: {len(found)} of {self._num_samples} '
               f'samples {what}: sample indices {listing}{more}')
        if policy == 'raise':
            raise error(f'{msg}. {hint}')
        self._bad_samples.update((i, reason) for i in found)
        bad = len(self._bad_samples)
        if bad > self.max_bad_fraction * self._num_samples:
            raise error(f'{msg}: {bad} of {self._num_samples} samples are '
                        f'unusable, more than max_bad_fraction='
                        f'{self.max_bad_fraction}; the data is mostly '
                        f'broken ({self._reason_summary()})')
        warnings.warn(f'{msg}; they are skipped')

    def _reason_summary(self) -> str:
        counts = Counter(self._bad_samples.values())
        return ', '.join(f'{n} {why}' for why, n in counts.most_common())

    def _check_bboxes(self) -> None:
        """Report zero-size / degenerate boxes now, with their indices."""
        box = np.asarray(self.arrays['bbox_xywh'])[self._index()]
        bad = np.flatnonzero((box[:, 2] < 1) | (box[:, 3] < 1))
        self._mark_bad(
            bad.tolist(), 'degenerate bbox', self.on_bad_bbox,
            'have a zero-size or degenerate bbox (width or height below 1 '
            'pixel in bbox_xywh)',
            'Fix the boxes, or set on_bad_bbox="skip" to train without '
            'these samples.', ValueError)

    def _check_image_files(self) -> None:
        """Find missing / empty / non-image files now rather than hours into
        training (progress bar and summary for large files)."""
        import time
        prefix = self.data_prefix.get('img_path', '')
        paths = self.arrays['image_path']
        index = self._index()
        start = time.time()
        progress = None
        if len(index) >= 20000:
            from mmengine.utils import ProgressBar
            print(f'{self.ann_file}: checking {len(index)} images')
            progress = ProgressBar(len(index))
        missing, broken = [], []
        for i, j in enumerate(index):
            problem = image_file_problem(osp.join(prefix, str(paths[int(j)])))
            if problem == 'not found':
                missing.append(i)
            elif problem is not None:
                broken.append((i, problem))
            if progress is not None and i % 1000 == 999:
                progress.completed = i - 999
                progress.update(1000)
        if progress is not None:
            print()
        seconds = time.time() - start
        from mmengine.logging import print_log
        print_log(
            f'{self.ann_file}: checked {len(index)} images in '
            f'{seconds:.1f} s: {len(missing)} missing, {len(broken)} '
            f'not images (data_prefix.img_path={prefix!r})',
            logger='current')
        example = '' if not missing else (
            f' (data_prefix.img_path={prefix!r}), e.g. ' + ', '.join(
                f'sample index {i}: {osp.join(prefix, str(paths[int(index[i])]))}'  # noqa: E501
                for i in missing[:5]))
        if missing and len(missing) == self._num_samples:
            raise FileNotFoundError(
                f'{self.ann_file}: {len(missing)} of {self._num_samples} '
                f'images not found{example}: no image left to train on')
        if missing:
            msg = (f'{self.ann_file}: {len(missing)} of {self._num_samples} '
                   f'images not found{example}')
            if self.on_missing_image == 'raise':
                raise FileNotFoundError(
                    msg + '. Fix data_prefix / the files, or set '
                    'on_missing_image="skip" to train without them.')
            warnings.warn(msg + '; they are skipped '
                          '(on_missing_image="skip")')
            self._mark_bad(missing, 'image not found', 'skip',
                           'have no image file', '', FileNotFoundError)
        for problem in sorted({p for _, p in broken}):
            found = [i for i, p in broken if p == problem]
            self._mark_bad(
                found, problem, self.on_missing_image,
                f'have an image file that is {problem}',
                'Fix the files, or set on_missing_image="skip" to train '
                'without them.', OSError)

    def prepare_data(self, idx: int) -> Optional[dict]:
        """The pipeline's output, or None for a skipped bad sample."""
        info = self.get_data_info(idx)
        path = info['img_path']
        if idx in self._bad_samples:
            return self._skip(idx, path, self._bad_samples[idx])
        try:
            out = self.pipeline(info)
        except Exception as exc:
            # An error of the image load names the file (mmpose LoadImage
            # re-raises with the path); other pipeline errors pass through.
            if path not in str(exc) and osp.isfile(path):
                raise
            if self.on_missing_image == 'raise':
                raise type(exc)(
                    f'{self.ann_file}: sample index {idx}: cannot read image '
                    f'{path}: {exc}') if isinstance(exc,
                                                    (OSError, ValueError,
                                                     AssertionError)) else exc
            self._bad_samples[idx] = 'unreadable image'
            return self._skip(idx, path, f'unreadable ({exc})',
                              'unreadable image')
        self._num_served += 1
        return out

    def _skip(self,
              idx: int,
              path: str,
              why: str,
              reason: Optional[str] = None) -> None:
        """Count a skipped sample; warn on the 1st, 2nd, 4th, 8th, ... of
        each reason; stop when the process skips more than
        ``max_bad_fraction`` of what it loads (after 200 loads)."""
        reason = reason or why
        self._num_skipped += 1
        self._skip_counts[reason] += 1
        count = self._skip_counts[reason]
        if count & (count - 1) == 0:
            summary = ', '.join(f'{n} {r}'
                                for r, n in self._skip_counts.most_common())
            warnings.warn(f'{self.ann_file}: sample index {idx}: {path}: '
                          f'{why}; serving another sample '
                          f'({self._num_skipped} skipped in this process: '
                          f'{summary})')
        loaded = self._num_skipped + self._num_served
        if loaded >= 200 and \
                self._num_skipped > self.max_bad_fraction * loaded:
            raise RuntimeError(
                f'{self.ann_file}: {self._num_skipped} of {loaded} samples '
                f'loaded in this process were skipped '
                f'({dict(self._skip_counts)}), more than max_bad_fraction='
                f'{self.max_bad_fraction}: the data is mostly broken, '
                f'stopping')
        return None

    @property
    def skip_summary(self) -> Dict[str, int]:
        """Samples skipped in this process, by reason."""
        return dict(self._skip_counts)

    def load_data_list(self) -> List[dict]:
        """Not used: samples are read lazily by :meth:`get_data_info`."""
        raise NotImplementedError(
            'HumanImageDataset reads samples lazily; use get_data_info(idx)')

    @property
    def arrays(self) -> Dict[str, np.ndarray]:
        """The memory-mapped cache (re-opened after unpickling)."""
        if self._arrays is None:
            self._arrays = open_cache(self._cache_folder)
        return self._arrays

    def __getstate__(self) -> dict:
        # A pickled np.memmap carries its whole content: workers started with
        # 'spawn' re-open the files instead.
        state = self.__dict__.copy()
        state['_arrays'] = None
        return state

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return self._num_samples

    # -- per sample ------------------------------------------------------
    def get_data_info(self, idx: int) -> dict:
        """The annotation dict of sample ``idx`` (see the class Note)."""
        if not self._fully_initialized:
            self.full_init()
        if not -self._num_samples <= idx < self._num_samples:
            raise IndexError(f'index {idx} out of range for '
                             f'{self._num_samples} samples')
        idx = int(idx) % self._num_samples
        i = idx if self._sample_index is None else int(self._sample_index[idx])
        a = self.arrays
        x, y, w, h = np.asarray(a['bbox_xywh'][i], dtype=np.float32)
        kp2d = np.array(a['keypoints2d'][i], dtype=np.float32)  # (49, 3)
        return dict(
            img_path=osp.join(
                self.data_prefix.get('img_path', ''), str(a['image_path'][i])),
            bbox=np.array([[x, y, x + w, y + h]], dtype=np.float32),
            bbox_score=np.array([a['bbox_score'][i]], dtype=np.float32),
            keypoints=kp2d[None, :, :2].copy(),
            keypoints_visible=kp2d[None, :, 2].copy(),
            keypoints3d=np.array(a['keypoints3d'][i], dtype=np.float32),
            smpl_global_orient=np.array(a['global_orient'][i], np.float32),
            smpl_body_pose=np.array(a['body_pose'][i], np.float32),
            smpl_betas=np.array(a['betas'][i], np.float32),
            has_smpl=int(a['has_smpl'][i]),
            has_kp3d=int(a['has_kp3d'][i]),
            gender=GENDERS[int(a['gender'][i])],
            sample_idx=int(idx),
            dataset_name=self.dataset_name,
            label_type=self._label_type,
            flip_indices=list(J49_FLIP_PERM))

    def get_subset_(self, indices) -> None:
        raise NotImplementedError('pass `indices=` to HumanImageDataset')

    def get_subset(self, indices):
        raise NotImplementedError('pass `indices=` to HumanImageDataset')
