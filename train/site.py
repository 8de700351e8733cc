"""The page's files on disk: a run's served model copied into the page's model/ folder, and the whole
page written as one folder for a static host (`python -m train.publish`). Pure file copying: which run,
which bundle and which files are decided by the caller (train.runs, train.publish); this module imports
only train's two standard-library leaves (files, errors).

    static_site/files.json   the page's own files (the one list: this module copies it, sw.js caches it)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from . import files
from .errors import InputError

SITE = Path(__file__).resolve().parents[1] / "static_site"
PAGE_FILES = tuple(json.loads((SITE / "files.json").read_text())["files"])
MARKER = ".render-or-real-publish"  # says a folder is ours to replace


class PublishError(InputError):
    """Cannot publish; the message names the path and what is wrong."""


def copy_model(run_dir: Path, tfjs_dir: str, names, dest: Path) -> None:
    """A run's TF.js bundle (its folder `tfjs_dir`) and the run's files `names` (preprocessing.json,
    metrics.json) into the folder `dest`, flat, with fresh dates (hosts and CDNs revalidate by them)."""
    for f in [*Path(run_dir, tfjs_dir).iterdir(), *(Path(run_dir, name) for name in names)]:
        shutil.copy(f, Path(dest) / f.name)


def copy_to_static_site(run_dir: Path, site_model_dir: Path, names, tfjs_dir: str = "tfjs") -> None:
    """Point the static page's model folder at a run: prepare_copy, switch_copy, drop_old_copies. A
    visitor never sees half of one run and half of another, or no model at all."""
    version = prepare_copy(run_dir, site_model_dir, names, tfjs_dir)
    try:
        switch_copy(site_model_dir, version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    drop_old_copies(site_model_dir)


def prepare_copy(run_dir: Path, site_model_dir: Path, names, tfjs_dir: str = "tfjs") -> Path:
    """copy_model into a new hidden folder beside the page's `model` (a unique name: another process may
    be preparing its own) -> that folder; nothing the page reads has changed yet. A failed copy (a full
    disk) leaves nothing behind."""
    parent = Path(site_model_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    version = Path(tempfile.mkdtemp(prefix=f".{Path(site_model_dir).name}-{Path(run_dir).name}-", dir=parent))
    try:
        copy_model(run_dir, tfjs_dir, names, version)
        os.chmod(version, 0o755)  # mkdtemp makes it private; a web server must read it
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    return version


def switch_copy(site_model_dir: Path, target) -> None:
    """`model` (a symlink) switched to the prepared folder `target` (a name beside it) in one atomic rename."""
    site_model_dir = Path(site_model_dir)
    if site_model_dir.is_dir() and not site_model_dir.is_symlink():  # a copy made before links were used
        site_model_dir.rename(site_model_dir.with_name(f".{site_model_dir.name}-replaced"))
    files.switch_link(site_model_dir, Path(target).name)


def drop_old_copies(site_model_dir: Path) -> None:
    """Every prepared copy beside `model` but the one it points at goes (the caller holds the models
    folder's lock, so none is another promotion's)."""
    site_model_dir = Path(site_model_dir)
    kept = site_model_dir.resolve()
    for old in site_model_dir.parent.glob(f".{site_model_dir.name}-*"):
        if old.resolve() != kept and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


def publish(out: Path, run_dir: Path, names, tfjs_dir: str, site: Path = SITE) -> int:
    """Write the page, its TF.js runtime and a run's model (copy_model into model/) as the folder `out`,
    plain files only, replaced in one step (a failed publish leaves an earlier one as it was); -> its bytes."""
    out = Path(out)
    vendor = site / "vendor"
    if not (vendor / "runtime.json").is_file():
        raise PublishError(f"{vendor}: the TF.js runtime is not built; run `bash setup.sh` (or "
                           "`npm --prefix static_site ci && npm --prefix static_site run build`)")
    if out.exists() and not out.is_dir():
        raise PublishError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise PublishError(f"{out}: not empty and not an earlier publish; choose an empty or new folder")
    with files.replacing(out) as tmp:
        tmp.mkdir(parents=True)
        for name in PAGE_FILES:
            shutil.copy(site / name, tmp / name)
        shutil.copytree(vendor, tmp / "vendor", symlinks=False)
        (tmp / "model").mkdir()
        copy_model(run_dir, tfjs_dir, names, tmp / "model")
        (tmp / MARKER).write_text(json.dumps({"run_id": Path(run_dir).name}) + "\n")
    return files.folder_bytes(out)
