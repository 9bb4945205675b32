"""keep_freed_memory: a freed large tensor's pages stay in the process for
the next allocation (what saves a page fault per 4 KB every step)."""
import os
import subprocess
import sys

import pytest

SCRIPT = r'''
import sys, torch
from mmhuman_imphmr.utils.cpu_malloc import keep_freed_memory
def anon_kb():
    for line in open('/proc/self/status'):
        if line.startswith('RssAnon:'):
            return int(line.split()[1])
applied = keep_freed_memory()
assert keep_freed_memory() == applied  # once per process
before = anon_kb()
x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
del x
print(applied, anon_kb() - before)
'''


@pytest.mark.skipif(
    not os.path.exists('/proc/self/status')
    or not sys.platform.startswith('linux'),
    reason='glibc / Linux /proc')
@pytest.mark.parametrize('keep', ['1', '0'])
def test_freed_block_stays_resident_only_when_kept(keep):
    env = dict(os.environ, MMHUMAN_KEEP_MALLOC=keep)
    out = subprocess.run([sys.executable, '-c', SCRIPT],
                         env=env,
                         capture_output=True,
                         text=True,
                         check=True)
    applied, kept_kb = out.stdout.split()
    if keep == '1':
        assert applied == 'True'
        assert int(kept_kb) > 48 * 1024  # the 64 MiB block was not unmapped
    else:
        assert applied == 'False'
        assert int(kept_kb) < 16 * 1024  # glibc default: returned at free
