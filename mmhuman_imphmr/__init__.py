"""mmhuman_imphmr: ImpHMR (CVPR 2023) as an OpenMMLab-2.0 plugin."""
from .version import __version__

# Version checks run at import so that a broken environment fails here, with
# the command that fixes it, and not deep inside a registry build.
_REQUIRED = {
    # module: (minimum inclusive, maximum exclusive, pip requirement to
    # install)
    'mmengine': ('0.10.0', '0.11.0', "mmengine>=0.10.0,<0.11"),
    'mmcv': ('2.0.0', '2.3.0', "mmcv-lite>=2.0.0,<2.3.0  (or full mmcv 2.x)"),
    'mmpose': ('1.3.0', '1.4.0', "--no-deps 'mmpose>=1.3.0,<1.4.0'"),
    'smplx': ('0.1.28', '0.2.0', 'smplx==0.1.28'),
    'torch': ('2.0.0', '3.0.0',
              'torch (see README: torch==2.13.0 on CPU-only machines)'),
}


def _parse(version: str) -> tuple:
    parts = []
    for piece in version.split('+')[0].split('.')[:3]:
        digits = ''.join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _check_versions() -> None:
    import importlib
    from importlib import metadata
    problems = []
    for module, (low, high, requirement) in _REQUIRED.items():
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            problems.append(f'{module} is not installed ({exc}); '
                            f'install it with: pip install {requirement}')
            continue
        found = getattr(mod, '__version__', None)
        if found is None:  # smplx has no __version__: ask the installer
            distribution = 'mmcv-lite' if module == 'mmcv' else module
            try:
                found = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                found = '0'
        if not _parse(low) <= _parse(found) < _parse(high):
            problems.append(
                f'{module}=={found} found, but mmhuman_imphmr needs '
                f'{module}>={low},<{high}; install it with: '
                f'pip install {requirement}')
    if problems:
        raise ImportError('mmhuman_imphmr cannot start:\n  - ' +
                          '\n  - '.join(problems) +
                          '\n`make install` sets up a working environment.')


_check_versions()

__all__ = ['__version__']
