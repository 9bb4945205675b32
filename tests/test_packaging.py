"""What ``pip install -e .`` asks for (setup.py, requirements/).

A GPU box must keep its CUDA torch and its full mmcv: the installed package's
requirements may not pin a version (``==``, a local ``+cpu`` build) and may
not name mmcv or mmcv-lite outside an extra. The project's machines get their
exact versions from ``requirements/pinned.txt`` through the Makefile.
"""
import os.path as osp
from importlib import metadata

import pytest
from packaging.requirements import Requirement

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _extra(req: Requirement):
    """The extra a requirement belongs to, or None for a base one."""
    if req.marker is None:
        return None
    for extra in ('lite', 'tests'):
        if req.marker.evaluate({'extra': extra}) and \
                not req.marker.evaluate({'extra': ''}):
            return extra
    return 'other'


@pytest.fixture(scope='module')
def requires():
    try:
        found = metadata.requires('mmhuman_imphmr')
    except metadata.PackageNotFoundError:
        pytest.fail('mmhuman_imphmr is not installed; run `make install` or '
                    '`pip install --no-deps -e .`')
    return [Requirement(r) for r in found or []]


def test_no_platform_pins(requires):
    pins = [
        str(r) for r in requires if any(
            s.operator in ('==', '===') or '+' in s.version
            for s in r.specifier)
    ]
    assert not pins, (
        f'installed mmhuman_imphmr metadata pins {pins}; install_requires '
        f'and the extras (requirements/runtime.txt, mminstall.txt, '
        f'tests.txt) take ranges, exact pins belong in '
        f'requirements/pinned.txt. A stale install? Re-run `make install`.')


def test_torch_and_mmcv_are_left_to_the_machine(requires):
    base = {r.name.lower(): r for r in requires if _extra(r) is None}
    assert 'torch' in base and base['torch'].specifier.contains('2.0.0') \
        and base['torch'].specifier.contains('2.13.0') \
        and base['torch'].specifier.contains('2.99.0'), base.get('torch')
    assert not base['torch'].specifier.contains('1.13.1')
    # Full mmcv and mmcv-lite install the same `mmcv` package: neither may
    # be forced onto a machine that has the other.
    assert 'mmcv' not in base and 'mmcv-lite' not in base, sorted(base)
    for name in ('mmengine', 'smplx', 'roma', 'einops'):
        assert name in base, f'{name} missing from {sorted(base)}'
    extras = {}
    for r in requires:
        extras.setdefault(_extra(r), []).append(r.name.lower())
    assert extras.get('lite') == ['mmcv-lite'], extras
    assert 'pytest' in extras.get('tests', []), extras
    assert 'other' not in extras, extras


def test_metadata_matches_requirements_files(requires):
    # The checks above read the installed metadata; this one says when that
    # is older than requirements/runtime.txt.
    with open(osp.join(ROOT, 'requirements', 'runtime.txt')) as f:
        declared = {
            Requirement(line.split('#')[0].strip()).name.lower()
            for line in f if line.split('#')[0].strip()
        }
    installed = {r.name.lower() for r in requires if _extra(r) is None}
    assert installed == declared, (
        f'installed metadata lists {sorted(installed)}, '
        f'requirements/runtime.txt {sorted(declared)}: re-run `make install`')


def test_makefile_installs_the_pinned_torch_first():
    # An unpinned torch would pull a CUDA build of several GB; the CPU build
    # on this machine's disk is 2.13.0.
    with open(osp.join(ROOT, 'requirements', 'pinned.txt')) as f:
        pins = dict(
            line.split('#')[0].strip().split('==') for line in f
            if line.split('#')[0].strip())
    assert pins['torch'] == '2.13.0', pins
    with open(osp.join(ROOT, 'Makefile')) as f:
        makefile = f.read()
    # The steps of `make install` (the $(STAMP) recipe), in order; every
    # other install in the Makefile (e.g. pre-commit for `make lint`) keeps
    # the constraints too.
    stamp = makefile[makefile.index('$(STAMP):'):]
    stamp = stamp[:stamp.index('\n\n')]
    installs = [
        line.strip() for line in stamp.splitlines() if '$(PIP) install' in line
    ]
    others = [
        line.strip() for line in makefile.splitlines()
        if '$(PIP) install' in line and line.strip() not in installs
    ]
    assert all('-c requirements/pinned.txt' in line for line in others), others
    assert installs[0] == '$(PIP) install --quiet --upgrade pip', installs
    assert installs[1] == \
        '$(PIP) install --quiet -c requirements/pinned.txt torch', installs
    assert all('-c requirements/pinned.txt' in line or '--no-deps' in line
               for line in installs[1:]), installs
    assert installs[-1].endswith('--no-deps --no-build-isolation -e .')
