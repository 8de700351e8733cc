"""Writing so that no reader ever sees half a file: the one write-beside-and-rename helper, the one link
switch, JSON without NaN, and a folder's size. Standard library only; imports nothing from train."""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
from pathlib import Path


@contextlib.contextmanager
def replacing(path, suffix: str = ""):
    """Yields a path beside `path` (hidden, same folder) to write a file or a folder at; when the block
    ends normally it is renamed over `path` in one step, otherwise removed. A folder already at `path`
    is first moved aside (a folder cannot be renamed over a full one), then deleted. `suffix` ends the
    temporary name, for writers that insist on one (np.savez adds .npz, Keras wants .weights.h5). The
    temporary names are this process's own (two processes writing one file never share one)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{unique()}.tmp{suffix}")
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            old = path.with_name(f".{path.name}.{unique()}.old")
            path.rename(old)
            os.replace(tmp, path)
            remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def unique() -> str:
    """A name part no other process or call uses at the same time: the process id and random hex."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def remove(path: Path) -> None:
    """A file, link or folder gone, whichever it is (nothing there is fine)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.is_symlink() or path.exists():
        path.unlink()


def write_text(path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def finite(obj):
    """obj with every NaN or infinite float replaced by None: the JSON a browser can parse."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(path, obj) -> None:
    """JSON without NaN, never half-written."""
    write_text(path, json.dumps(finite(obj), indent=2, allow_nan=False) + "\n")


def switch_link(link, target) -> None:
    """Point the symbolic link `link` at `target` (relative to the link's folder) in one atomic rename:
    a reader finds the old target or the new one, never none."""
    link = Path(link)
    tmp = link.with_name(f".{link.name}.{unique()}.link.tmp")
    tmp.symlink_to(target)
    os.replace(tmp, link)


def size_text(n_bytes: int) -> str:
    """A size as every command, the app and the page say it (static_site/app.js says it the same way):
    megabytes of 1,000,000 bytes with one decimal; kilobytes (1,000 bytes) under 0.1 MB, bytes under 1 KB."""
    if n_bytes >= 100_000:
        return f"{n_bytes / 1e6:.1f} MB"
    return f"{n_bytes / 1e3:.0f} KB" if n_bytes >= 1000 else f"{n_bytes:.0f} B"


def folder_bytes(path) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
