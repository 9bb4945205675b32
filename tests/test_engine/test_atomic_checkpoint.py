"""Interrupted saves leave the previous checkpoint loadable; robust resume."""
import os
import os.path as osp

import pytest
import torch
from mmengine.fileio.backends import LocalBackend

from mmhuman_imphmr.engine import (atomic_dump_json, atomic_write,
                                   find_resumable_checkpoint,
                                   safe_load_checkpoint)
from .toy_runner import make_runner


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = str(tmp_path / 'metrics.json')
    atomic_dump_json({'mpjpe': 1.0}, path)
    with pytest.raises(RuntimeError, match='boom'):
        with atomic_write(path, 'w') as f:
            f.write('{"mpjpe": 2')  # partial content, then a crash
            raise RuntimeError('boom')
    with open(path) as f:
        assert f.read() == '{\n  "mpjpe": 1.0\n}'
    assert os.listdir(str(tmp_path)) == ['metrics.json']  # no temp left


def test_save_interrupted_mid_write_keeps_previous(tmp_path, monkeypatch):
    work = str(tmp_path / 'w')
    runner = make_runner(work, max_epochs=2, max_keep_ckpts=1)
    real_put = LocalBackend.put
    calls = []

    def put_half_then_die(self, obj, filepath):
        calls.append(filepath)
        if len(calls) == 2:  # the epoch-2 save: half the bytes, then "kill"
            real_put(self, obj[:len(obj) // 2], filepath)
            raise KeyboardInterrupt('killed mid-write')
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    # MMEngine alone would have deleted epoch_1 (max_keep_ckpts=1) before
    # writing epoch_2, and written epoch_2.pth in place (half a file).
    assert '.tmp-' in osp.basename(calls[1])  # the write went to a temp
    assert sorted(f for f in os.listdir(work)
                  if f.endswith('.pth')) == ['epoch_1.pth']
    assert not [f for f in os.listdir(work) if '.tmp-' in f]
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'epoch_1.pth')
    ckpt = safe_load_checkpoint(osp.join(work, 'epoch_1.pth'))
    assert ckpt['meta']['epoch'] == 1
    # --resume continues from it and finishes.
    monkeypatch.setattr(LocalBackend, 'put', real_put)
    resumed = make_runner(work, max_epochs=2, resume=True, max_keep_ckpts=1)
    resumed.train()
    assert resumed.iter == 8
    assert sorted(f for f in os.listdir(work)
                  if f.endswith('.pth')) == ['epoch_2.pth']


def test_find_resumable_checkpoint_skips_broken(tmp_path):
    work = str(tmp_path)
    make_runner(work, max_epochs=2).train()
    good = osp.join(work, 'epoch_2.pth')
    assert find_resumable_checkpoint(work) == good
    # A truncated newer file (e.g. written by plain torch.save and killed)
    # and an empty pointer (killed while MMEngine rewrote it in place).
    with open(good, 'rb') as f:
        data = f.read()
    with open(osp.join(work, 'epoch_3.pth'), 'wb') as f:
        f.write(data[:len(data) // 3])
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write('')
    os.utime(good, (1, 1))  # older than epoch_1.pth
    assert find_resumable_checkpoint(work) == osp.join(work, 'epoch_1.pth')
    os.remove(osp.join(work, 'epoch_1.pth'))
    assert find_resumable_checkpoint(work) == good
    assert torch.load(good, weights_only=False)['meta']['epoch'] == 2


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_killed_saves_are_removed(tmp_path):
    # A kill -9 between the write and the rename leaves the full-size
    # temporary; its process is gone, so the next save (or --resume) removes
    # it. The temporary of a live process (a save in progress) is kept.
    from mmhuman_imphmr.engine.fault_tolerant_runner import \
        remove_stale_temporaries
    work = str(tmp_path / 'w')
    os.makedirs(work)
    stale = osp.join(work, f'.epoch_3.pth.tmp-{_dead_pid()}')
    live = osp.join(work, f'.epoch_4.pth.tmp-{os.getpid()}')
    other = osp.join(work, '.metrics.json.tmp-abc123')  # atomic_write's
    for path in (stale, live, other):
        with open(path, 'wb') as f:
            f.write(b'x' * 1024)
    assert remove_stale_temporaries(work) == [stale]
    assert sorted(os.listdir(work)) == sorted(
        osp.basename(p) for p in (live, other))
    # Through the runner: a save clears what an earlier killed save left.
    os.remove(live)
    with open(stale, 'wb') as f:
        f.write(b'x' * 1024)
    make_runner(work, max_epochs=1).train()
    assert not osp.exists(stale)
    assert 'epoch_1.pth' in os.listdir(work)
