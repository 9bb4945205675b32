"""An MMEngine ``Runner`` whose checkpoints survive kills and load safely."""
import glob
import logging
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import Callable, List, Optional, Union

from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import BaseLoop, Runner
from mmengine.runner.checkpoint import _load_checkpoint

from .atomic_io import _fsync_dir
from .safe_load import checkpoint_safe_globals, load_state_dict_checked
from .schedule_length import (follow_schedule_after_resume, follow_train_loop,
                              schedule_lengths)

TMP_MARK = '.tmp-'


@RUNNERS.register_module()
class FaultTolerantRunner(Runner):
    """``Runner`` with atomic checkpoints, safe loading and robust resume.

    Select it with ``runner_type = 'FaultTolerantRunner'`` in a config
    (``tools/train.py`` / ``tools/test.py`` build ``RUNNERS`` when the key is
    set, as mmpose's do). Differences from MMEngine's ``Runner``:

    * :meth:`save_checkpoint` writes ``.<name>.tmp-<pid>`` in the same folder
      and ``os.replace``-s it onto ``<name>`` after an ``fsync``, so a kill
      during a save leaves every earlier checkpoint complete (local files;
      other storage backends keep MMEngine's write). Temporaries left by a
      killed save (full-size ``.<name>.tmp-<pid>`` files whose process is
      gone) are removed by the next save and by ``--resume``
      (:func:`remove_stale_temporaries`), so preemptions do not fill the
      disk.
    * every checkpoint load (``load_from``, resume) is weights-only with the
      MMEngine classes allow-listed (:mod:`.safe_load`); torch's global
      default is left alone.
    * ``load_from`` of a checkpoint that does not fit the model raises
      :class:`~.safe_load.CheckpointMismatchError` naming the missing,
      unexpected and shape-mismatching keys. Set ``load_from_strict=False``
      in the config to load the matching keys with a warning instead (a
      shape mismatch still raises). Resuming is always strict.
    * ``--resume`` without a path (``resume=True``, ``load_from=None``) takes
      the checkpoint named by ``work_dir/last_checkpoint``; when that file is
      missing, empty or names a missing / truncated file, it falls back to
      the newest complete ``*.pth`` in ``work_dir`` (with a warning).
    * a dataloader with ``num_workers=0`` (e.g. ``--cfg-options
      train_dataloader.num_workers=0`` to debug in one process) gets
      ``persistent_workers=False`` with a warning, instead of torch's
      ``ValueError`` for the pair the configs' defaults would make.

    * parameter schedules follow the train loop
      (:mod:`.schedule_length`): a scheduler without ``end`` whose
      ``T_max`` disagrees with ``train_cfg.max_epochs`` gets the loop's
      length, and resuming with another ``max_epochs`` re-plans the
      schedule over the new length (both with a warning).
    * a quiet start: the environment, the config and the hook order (some
      400 lines) go to the log file in the work dir, and the terminal gets
      one line saying where; ``print_startup_info=True`` in the config
      (``--verbose`` of the tools) prints them there too.

    Exact resume: together with :class:`EpochSeedHook` and checkpoints at
    epoch ends, a resumed run repeats the uninterrupted run bit for bit on
    CPU (see ``docs`` of that hook for the conditions).
    """

    def __init__(self, *args, **kwargs) -> None:
        self._quiet_startup = False
        super().__init__(*args, **kwargs)
        self._quiet_startup = False  # the hook order was the last of it

    # -- a quiet start ---------------------------------------------------
    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """MMEngine's logger; the terminal handlers skip the start-up
        tables unless ``print_startup_info`` (see class doc)."""
        logger = super().build_logger(log_level, log_file, **kwargs)
        if not self.cfg.get('print_startup_info', False):
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler) and \
                        not isinstance(handler, logging.FileHandler) and \
                        not any(isinstance(f, _StartupToFileFilter)
                                for f in handler.filters):
                    handler.addFilter(_StartupToFileFilter(self))
        return logger

    def _log_env(self, env_cfg: dict) -> None:
        self._quiet_startup = True
        try:
            super()._log_env(env_cfg)
        finally:
            self._quiet_startup = False
        files = [
            h.baseFilename for h in self.logger.handlers
            if isinstance(h, logging.FileHandler)
        ]
        if files and not self.cfg.get('print_startup_info', False):
            self.logger.info(f'Environment, config and hook order: written '
                             f'to {files[0]} (print_startup_info=True or '
                             f'--verbose prints them here)')

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        super().register_hooks(default_hooks, custom_hooks)
        # MMEngine's __init__ logs the hook table next; __init__ above
        # switches the quiet mode off after it.
        self._quiet_startup = True

    # -- schedules -------------------------------------------------------
    def _build_param_scheduler(self, scheduler, optim_wrapper):
        """MMEngine's, with ``T_max`` following the train loop."""
        if isinstance(self._train_loop, BaseLoop):
            scheduler = follow_train_loop(scheduler, self.max_epochs,
                                          self.max_iters, self.logger)
        return super()._build_param_scheduler(scheduler, optim_wrapper)

    # -- dataloaders -----------------------------------------------------
    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """MMEngine's ``build_dataloader``; ``num_workers=0`` switches
        ``persistent_workers`` off (see class doc)."""
        if (isinstance(dataloader, dict)
                and dataloader.get('num_workers', 0) == 0
                and dataloader.get('persistent_workers', False)):
            print_log(
                'num_workers=0: persistent_workers=True needs worker '
                'processes, switched off for this dataloader',
                logger='current',
                level=30)
            dataloader = dict(dataloader, persistent_workers=False)
        return Runner.build_dataloader(
            dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    # -- saving ----------------------------------------------------------
    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save like MMEngine's ``Runner`` but atomically (see class doc)."""
        backend = get_file_backend(out_dir, backend_args=backend_args)
        if file_client_args is not None or not isinstance(
                backend, LocalBackend):
            return super().save_checkpoint(out_dir, filename, file_client_args,
                                           save_optimizer,
                                           save_param_scheduler, meta,
                                           by_epoch, backend_args)
        final = osp.join(out_dir, filename)
        if is_main_process():
            remove_stale_temporaries(osp.dirname(final), self.logger)
        tmp_name = f'.{osp.basename(filename)}{TMP_MARK}{os.getpid()}'
        tmp = osp.join(osp.dirname(final), tmp_name)
        try:
            super().save_checkpoint(
                osp.dirname(final), tmp_name, None, save_optimizer,
                save_param_scheduler, meta, by_epoch, backend_args)
            if not is_main_process():
                # MMEngine writes checkpoints on rank 0 only (the other
                # ranks still run the state collection above).
                return
            with open(tmp, 'rb+') as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
            _fsync_dir(osp.dirname(final))
        finally:
            if osp.exists(tmp):
                os.remove(tmp)

    # -- loading ---------------------------------------------------------
    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        """Load ``filename`` weights-only and check it fits the model.

        ``strict`` is ignored in favour of the config's
        ``load_from_strict`` (default True); see the class docstring.
        """
        with checkpoint_safe_globals():
            checkpoint = _load_checkpoint(filename, map_location=map_location)
        if not isinstance(checkpoint, dict):
            raise ValueError(f'{filename}: expected a dict checkpoint, found '
                             f'{type(checkpoint).__name__}')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        state = checkpoint.get('state_dict', checkpoint)
        revised = OrderedDict()
        for key, value in state.items():
            for pattern, repl in revise_keys:
                key = re.sub(pattern, repl, key)
            revised[key] = value
        strict_cfg = bool(self.cfg.get('load_from_strict', True)) \
            if self.cfg is not None else True
        message = load_state_dict_checked(
            model,
            revised,
            source=str(filename),
            strict=strict_cfg or self._resume)
        if message:
            self.logger.warning(message)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """Resume with MMEngine's classes allow-listed for this load; a
        checkpoint of another schedule length follows the config's
        (:func:`.schedule_length.follow_schedule_after_resume`)."""
        planned = schedule_lengths(self.param_schedulers)
        with checkpoint_safe_globals():
            super().resume(filename, resume_optimizer, resume_param_scheduler,
                           map_location)
        if resume_param_scheduler:
            follow_schedule_after_resume(self, planned)

    def load_or_resume(self) -> None:
        """Resolve ``--resume`` without a path robustly (see class doc)."""
        if self._has_loaded:
            return None
        if self._resume and is_main_process():
            remove_stale_temporaries(self.work_dir, self.logger)
        if self._resume and self._load_from is None:
            found = find_resumable_checkpoint(self.work_dir, self.logger)
            if found is None:
                self.logger.warning(f'--resume: no checkpoint in '
                                    f'{self.work_dir}, training from scratch')
            self._load_from = found
            if found is None:
                self._resume = False
        return super().load_or_resume()


class _StartupToFileFilter(logging.Filter):
    """Drops a runner's INFO records on a terminal handler while the
    runner logs its start-up tables (warnings always pass)."""

    def __init__(self, runner) -> None:
        super().__init__()
        import weakref
        self._runner = weakref.ref(runner)

    def filter(self, record: logging.LogRecord) -> bool:
        runner = self._runner()
        return not (runner is not None
                    and getattr(runner, '_quiet_startup', False)
                    and record.levelno <= logging.INFO)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 probe)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or cannot tell: keep its file
    return True


def remove_stale_temporaries(folder: str, logger=None) -> List[str]:
    """Delete checkpoint temporaries whose writing process is gone.

    :meth:`FaultTolerantRunner.save_checkpoint` writes
    ``.<name>.tmp-<pid>`` and renames it; a kill in between leaves the file
    (as large as a checkpoint). A file whose ``pid`` is not a live process on
    this machine can never be completed and is removed; one whose process
    lives (this run, or a run on the same machine saving right now), or
    whose name carries no pid, is kept. On a file system shared between
    machines a live pid of another machine is not seen; only rank 0 of one
    run writes into a work_dir, so such a file is stale too.

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    for path in glob.glob(osp.join(folder, f'.*.pth{TMP_MARK}*')):
        pid = path.rsplit(TMP_MARK, 1)[-1]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        try:
            size = osp.getsize(path)
            os.remove(path)
        except OSError:
            continue
        removed.append(path)
        if logger is not None:
            logger.warning(f'removed {path} ({size / 2**20:.1f} MiB), the '
                           f'temporary of a checkpoint save that was killed '
                           f'(process {pid} is gone)')
    return removed


def _is_complete(path: str) -> bool:
    """A torch zip checkpoint with its end record (not truncated)."""
    return osp.isfile(path) and zipfile.is_zipfile(path)


def find_resumable_checkpoint(work_dir: str, logger=None) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from, or None.

    ``work_dir/last_checkpoint`` wins when it names a complete file;
    otherwise the newest complete ``*.pth`` in ``work_dir`` (temporary
    ``.*.tmp-*`` files never count).
    """

    def warn(msg: str) -> None:
        if logger is not None:
            logger.warning(msg)

    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and _is_complete(named):
            return named
        warn(f'{pointer} names {named!r}, which is missing or incomplete; '
             f'looking for the newest complete checkpoint instead')
    candidates: List[str] = [
        p for p in glob.glob(osp.join(work_dir, '*.pth'))
        if TMP_MARK not in osp.basename(p)
    ]
    candidates.sort(key=osp.getmtime, reverse=True)
    for path in candidates:
        if _is_complete(path):
            return path
        warn(f'skipping incomplete checkpoint {path}')
    return None
