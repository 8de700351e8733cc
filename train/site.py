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
MARKER = ".render-or-real-publish"  # says a folder is ours to replace, and lists what in it is ours
PAGE_OWNS = (*PAGE_FILES, "vendor", "model", MARKER)  # a published folder's entries that publishing replaces


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


def is_host_file(name: str) -> bool:
    """What a static host or its checkout keeps in the folder it serves (.git/, .nojekyll, CNAME, ...):
    never the page's, kept by every publish, and no reason to refuse a folder."""
    return name.startswith(".") or name == "CNAME"


def owned_entries(folder: Path) -> set[str]:
    """The entries of an earlier publish that are the page's (its marker lists them; a marker written
    before it did means today's list)."""
    try:
        listed = json.loads((folder / MARKER).read_text()).get("owns")
    except (OSError, ValueError, AttributeError):
        listed = None
    return set(PAGE_OWNS) | set(listed if isinstance(listed, list) else [])


def publish(out: Path, run_dir: Path, names, tfjs_dir: str, written: dict | None = None, site: Path = SITE) -> int:
    """Write the page, its TF.js runtime and a run's model (copy_model into model/, plus `written`: {file
    name: object} written as JSON beside it) as the folder `out`, plain files only, replaced in one step
    (a failed publish leaves an earlier one as it was); -> its bytes. What the folder holds that the page
    does not own (a host's CNAME, .nojekyll, .git/, the user's own files) is kept, and a symbolic link
    `out` stays one: its target folder is published."""
    out = Path(out)
    vendor = site / "vendor"
    if not (vendor / "runtime.json").is_file():
        raise PublishError(f"{vendor}: the TF.js runtime is not built; run `bash setup.sh` (or "
                           "`npm --prefix static_site ci && npm --prefix static_site run build`)")
    if out.is_symlink():
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise PublishError(f"{out}: exists and is not a folder")
    earlier = out.is_dir() and (out / MARKER).is_file()
    if out.is_dir() and not earlier and not all(is_host_file(p.name) for p in out.iterdir()):
        raise PublishError(f"{out}: not empty and not an earlier publish; choose an empty or new folder")
    kept = [p.name for p in out.iterdir() if p.name not in owned_entries(out)] if out.is_dir() else []
    with files.replacing(out) as tmp:
        tmp.mkdir(parents=True)
        for name in PAGE_FILES:
            shutil.copy(site / name, tmp / name)
        shutil.copytree(vendor, tmp / "vendor", symlinks=False)
        (tmp / "model").mkdir()
        copy_model(run_dir, tfjs_dir, names, tmp / "model")
        for name, obj in (written or {}).items():
            files.write_json(tmp / "model" / name, obj)
        (tmp / MARKER).write_text(json.dumps({"run_id": Path(run_dir).name, "owns": list(PAGE_OWNS)}) + "\n")
        for name in kept:
            carry_over(out / name, tmp / name)
    return files.folder_bytes(out)


def carry_over(src: Path, dst: Path) -> None:
    """A file or folder of the earlier publish into the new one as hard links (a .git/ may be large), copies
    where links cannot be made: the originals stay where they are until the new folder is in place, so
    a publish that fails or is killed loses none of them."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True, copy_function=link)
    else:
        link(src, dst)
