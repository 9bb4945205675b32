"""Atomic file writes: a kill during a write leaves the old file intact.

The data goes to a temporary file in the destination's folder (same file
system, so the final rename is atomic), is flushed and ``fsync``-ed, then
``os.replace``-d onto the destination; the folder is ``fsync``-ed so that the
rename survives a power loss. A reader sees either the complete old file or
the complete new one, never a truncated mix. A failed write removes its
temporary file; a killed one may leave a ``.<name>.tmp-*`` file behind, which
is never mistaken for a checkpoint (its name does not end in ``.pth``).
"""
import contextlib
import json
import os
import os.path as osp
import tempfile
from typing import IO, Any, Iterator


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str,
                 mode: str = 'wb',
                 encoding: str = 'utf-8') -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block succeeds.

    Args:
        path (str): Destination file.
        mode (str): ``'wb'`` or ``'w'``.
        encoding (str): Text encoding for ``'w'``.

    Yields:
        file: The open temporary file.

    Example:
        >>> with atomic_write('metrics.json', 'w') as f:
        ...     json.dump(metrics, f)
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_write: mode must be "w" or "wb", got '
                         f'{mode!r}')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.tmp-', dir=folder)
    try:
        with os.fdopen(fd, mode,
                       **({} if 'b' in mode else dict(
                           encoding=encoding))) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files: give the usual permissions instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        _fsync_dir(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, 'wb') as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_write(path, 'w') as f:
        f.write(text)


def atomic_dump_json(obj: Any, path: str, **kwargs) -> None:
    """``json.dump(obj)`` to ``path`` atomically (``indent=2`` default)."""
    kwargs.setdefault('indent', 2)
    with atomic_write(path, 'w') as f:
        json.dump(obj, f, **kwargs)
