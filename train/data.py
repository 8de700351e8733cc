"""Finding pictures, the stable train/val/test split, and the streaming tf.data pipelines.

The split of a picture is a hash of its path relative to its class folder (or of its group key, see
`group_key`), so adding pictures never moves an old picture to another split.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .progress import Progress
from .preprocess import (IMAGE_EXTENSIONS, MAX_PIXELS, AbsurdImage, BadImage, Spec, crop_grid, load_rgb,
                         normalize, normalized_size, too_small)

SPLITS = ("train", "val", "test")
IGNORED_NAMES = {"thumbs.db", "desktop.ini"}


class DataError(InputError):
    """A data problem that stops the run (one line, names the path); `python -m train` exits 2."""


@dataclass(frozen=True)
class Item:
    path: str  # as given (absolute or relative to the working directory)
    rel: str  # posix path relative to the class folder: what the split hashes
    label: int
    split: str
    size: tuple[int, int] | None = None  # (width, height) from the header read by discover()
    same_as_other_class: str | None = None  # the content's SHA-256 when another class holds the same file


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


# The default group of a picture (no --group-pattern): its file name without the extension and without
# its last part after a separator, when that part names a view of one subject rather than a shot:
# words and short numbers go ("houses_12_kitchen" -> "houses_12", "project-1113-2" -> "project-1113",
# "bedroom-01" -> "bedroom"); camera counters of 3+ digits stay ("IMG_1234", "DJI_0012": every shot its
# own group). A rule on the name alone, so adding pictures never moves an old one to another split.
VIEW_SUFFIX = re.compile(r"^(?P<subject>.+?)[-_ .]+(?P<view>[A-Za-z][A-Za-z0-9]*|\d{1,2})$")


def auto_group(rel: str) -> str:
    path = Path(rel)
    m = VIEW_SUFFIX.match(path.stem)
    return (path.parent / m.group("subject")).as_posix() if m else rel


def group_key(rel: str, group_pattern: str | None) -> str:
    """What the split hashes, so that related pictures share a split: with no pattern the default rule
    above (`auto_group`); with a pattern the part of the file name it picks (first group, else the whole
    match); with the pattern "none" the relative path (every picture on its own)."""
    if group_pattern is None:
        return auto_group(rel)
    if group_pattern in ("", "none"):
        return rel
    m = re.search(group_pattern, Path(rel).name)
    if not m:
        return rel
    return m.group(1) if m.groups() else m.group(0)


def stable_unit(key: str) -> float:
    """A number in [0, 1) fixed by `key` alone: the same on every machine and every run. A file name that is
    not UTF-8 reaches Python with its bytes as surrogates (surrogateescape): those bytes are hashed."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogateescape")).digest()[:8], "big") / 2**64


def split_of(key: str, fractions: tuple[float, float, float]) -> str:
    u = stable_unit(key)
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


def discover(root: Path, fractions=(0.8, 0.1, 0.1), group_pattern: str | None = None):
    """-> (class_names, items, skipped). Raises DataError for a layout that cannot be trained on.

    Headers are read here (cheap: no pixel decoding) so that non-pictures and absurd pictures
    (decompression bombs) are skipped up front, named. Truncated files are caught later, at decode.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found (expected {root}/<class>/<pictures>)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        names = ", ".join(p.name for p in class_dirs) or "none"
        raise DataError(f"{root}: need at least 2 class folders, found {len(class_dirs)} ({names})")
    class_names = [p.name for p in class_dirs]
    unusable: dict[str, list[tuple[Path, str]]] = {}  # kind -> [(path, why)]: folders and links not walked
    files = [walk_files(class_dir, unusable) for class_dir in class_dirs]
    skipped = []
    for kind, found in unusable.items():  # one line per kind, however many
        listed = ", ".join(str(path) for path, _ in found[:3]) + (", ..." if len(found) > 3 else "")
        warn(f"{len(found)} {kind} skipped: {listed}")
        skipped += [{"path": str(path), "error": f"{path}: skipped, {kind.removesuffix('s')} ({why})"}
                    for path, why in found]
    bar = Progress("scanning", sum(map(len, files)), quiet_below=2000)  # headers: thousands per second
    items = []
    for label, class_dir in enumerate(class_dirs):
        count = 0
        for path in files[label]:
            bar.add()
            rel = path.relative_to(class_dir).as_posix()
            size, problem = read_header(path)
            if problem:
                warn(problem)
                skipped.append({"path": str(path), "error": problem})
                continue
            items.append(Item(str(path), rel, label, split_of(group_key(rel, group_pattern), fractions), size))
            count += 1
        if count == 0:
            raise DataError(f"{class_dir}: class '{class_dir.name}' has no readable pictures")
    bar.close()
    return class_names, mark_cross_class_duplicates(items, class_names), skipped


UNREADABLE, DANGLING, LOOPING = "unreadable folders", "dangling symbolic links", "looping symbolic links"


def walk_files(folder: Path, unusable: dict) -> list[Path]:
    """The files under `folder`, sorted, hidden files and IGNORED_NAMES left out; symbolic links to folders
    followed. What cannot be walked is added to `unusable` ({kind: [(path, why)]}) instead of being passed
    over in silence: unreadable folders, links to nothing, links that lead back into their own folder."""
    found = []

    def visit(path: Path, above: set) -> None:
        key = (path.stat().st_dev, path.stat().st_ino)
        if key in above:
            unusable.setdefault(LOOPING, []).append((path, "leads back to a folder it is in"))
            return
        try:
            entries = list(os.scandir(path))
        except OSError as e:
            unusable.setdefault(UNREADABLE, []).append((path, e.strerror or type(e).__name__))
            return
        for entry in entries:
            child = Path(entry.path)
            try:
                if entry.is_dir():
                    visit(child, above | {key})
                elif entry.is_file():
                    if not entry.name.startswith(".") and entry.name.lower() not in IGNORED_NAMES:
                        found.append(child)
                elif entry.is_symlink():  # a link to nothing: is_dir and is_file say False
                    unusable.setdefault(DANGLING, []).append((child, f"points to {os.readlink(child)}"))
            except OSError as e:  # a link to a link to ... itself: ELOOP
                unusable.setdefault(LOOPING, []).append((child, e.strerror or type(e).__name__))

    visit(Path(folder), set())
    return sorted(found)


def mark_cross_class_duplicates(items: list[Item], class_names) -> list[Item]:
    """items, those whose file has the same content (SHA-256) as a file of another class marked with it
    (`same_as_other_class`), and a warning naming them: one picture cannot teach two answers. Only files
    of equal size are read (sizes are free), so this costs nothing on a set without such twins."""
    by_size: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        with contextlib.suppress(OSError):
            by_size.setdefault(os.stat(it.path).st_size, []).append(i)
    by_hash: dict[str, list[int]] = {}
    for group in by_size.values():
        if len({items[i].label for i in group}) < 2:
            continue
        for i in group:
            with contextlib.suppress(OSError):
                by_hash.setdefault(hashlib.sha256(Path(items[i].path).read_bytes()).hexdigest(), []).append(i)
    twins = {h: group for h, group in by_hash.items() if len({items[i].label for i in group}) > 1}
    if not twins:
        return items
    items = list(items)
    for h, group in twins.items():
        for i in group:
            items[i] = dataclasses.replace(items[i], same_as_other_class=h)
    listed = "; ".join(" = ".join(f"{class_names[items[i].label]}/{items[i].rel}" for i in group)
                       for group in list(twins.values())[:3]) + ("; ..." if len(twins) > 3 else "")
    warn(f"{len(twins)} pictures are in two classes or more (same content; listed in metrics.json): {listed}")
    return items


def cross_class_duplicates(items) -> list[dict]:
    """For metrics.json: [{"sha256", "paths"}] of the files found in more than one class."""
    groups: dict[str, list[str]] = {}
    for it in items:
        if it.same_as_other_class:
            groups.setdefault(it.same_as_other_class, []).append(it.path)
    return [{"sha256": h, "paths": paths} for h, paths in sorted(groups.items())]


def read_header(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """-> ((width, height), None) for a usable picture header, or (None, one-line reason). Reads no
    pixels."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return None, f"{path}: skipped, not a picture extension ({', '.join(IMAGE_EXTENSIONS)})"
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError:
        return None, f"{path}: skipped, absurd picture size over {MAX_PIXELS:,} pixels (decompression bomb)"
    except UnidentifiedImageError:
        return None, f"{path}: skipped, not a picture Pillow can read"
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        return None, f"{path}: skipped, corrupt picture ({e})"
    if w * h > MAX_PIXELS:
        return None, f"{path}: skipped, absurd picture size {w}x{h}, over {MAX_PIXELS:,} pixels (decompression bomb)"
    if w < 1 or h < 1:
        return None, f"{path}: skipped, empty picture"
    return (w, h), None


def counts(items, class_names) -> dict:
    """{split: {class: n}} for the report."""
    c = Counter((it.split, it.label) for it in items)
    return {s: {name: c[(s, i)] for i, name in enumerate(class_names)} for s in SPLITS}


def class_weights(items, num_classes: int) -> dict[int, float] | None:
    """Inverse-frequency weights when the classes are imbalanced (largest/smallest > 1.2), else None."""
    n = Counter(it.label for it in items if it.split == "train")
    sizes = [n[i] for i in range(num_classes)]
    if min(sizes) == 0 or max(sizes) / min(sizes) <= 1.2:
        return None
    total = sum(sizes)
    return {i: total / (num_classes * sizes[i]) for i in range(num_classes)}


# ---------------------------------------------------------------- tf.data pipelines


class DecodeFailures:
    """Files that failed to decode while streaming (header fine, pixels not: e.g. truncated)."""

    def __init__(self):
        self.seen: dict[str, str] = {}

    def record(self, path: str, message: str) -> None:
        if path not in self.seen:
            warn(message)
            self.seen[path] = message


def _loader(spec: Spec, failures: DecodeFailures):
    def load(path_tensor):
        path = os.fsdecode(path_tensor.numpy())
        try:
            rgb = load_rgb(path)
            problem = too_small(rgb, spec)
            if problem:
                raise BadImage(f"{path}: {problem}")
            return normalize(rgb, spec), True
        except AbsurdImage as e:
            failures.record(path, str(e))
        except BadImage as e:
            failures.record(path, f"{e}, skipped")
        import tensorflow as tf

        return tf.zeros([spec.input_size, spec.input_size, 3]), False

    return load


# Decoded training pictures are kept in memory (uint8) when they fit in this many bytes.
CACHE_BYTES = 1 << 30


def training_dataset(items, spec: Spec, batch_size: int, seed: int, failures: DecodeFailures,
                     crops_per_image: int = 4, augment: bool = True, cache_bytes: int = CACHE_BYTES):
    """Endless, shuffled batches of (views, labels) for the training split.

    Each picture is decoded and normalized once (kept in memory as uint8 when the training split fits
    in `cache_bytes`, else decoded again every epoch); every time it comes round it gets a fresh
    picture-level augmentation (see `augment_picture`) and, in the crops view, `crops_per_image` random
    crops at native resolution: decoding is the cost, crops are cheap. Crops of many pictures are mixed
    before batching so a batch is not a handful of pictures."""
    import tensorflow as tf

    train = [it for it in items if it.split == "train"]
    # Shuffled once before the cache is filled (the first epoch must not see one class after the
    # other), then again every epoch.
    order = np.random.default_rng(seed).permutation(len(train))
    train = [train[i] for i in order]
    paths = path_tensor([it.path for it in train])
    labels = tf.constant([it.label for it in train], dtype=tf.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    ds = _decoded(ds, spec, failures)
    ds = ds.map(lambda image, label: (tf.cast(image, tf.uint8), label))  # whole levels already (normalize)
    if decoded_bytes(train, spec) <= cache_bytes:
        ds = ds.cache()
    ds = ds.shuffle(len(train), seed=seed, reshuffle_each_iteration=True).repeat()
    size = spec.input_size
    crops = spec.view == "crops"
    per_image = crops_per_image if crops else 1
    if augment:
        ds = ds.map(lambda image, label: (augment_picture(image, size, rescale=crops), label),
                    num_parallel_calls=tf.data.AUTOTUNE)

    def cut(image, label):
        if crops:
            views = tf.stack([tf.image.random_crop(image, [size, size, 3]) for _ in range(per_image)])
        else:
            views = image[None]
        return views, tf.fill([per_image], label)

    ds = ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    ds = ds.shuffle(max(256, min(4096, 64 * per_image)), seed=seed)  # crops of ~64 pictures
    if augment:
        ds = ds.map(augment_pair, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def decoded_bytes(items, spec: Spec) -> int:
    """Upper bound of the uint8 memory the normalized training pictures take (sizes from discover())."""
    total = 0
    for it in items:
        if spec.view == "whole":
            h = w = spec.input_size
        elif it.size is None:
            continue
        else:
            h, w = normalized_size(it.size[1], it.size[0], spec)  # EXIF rotation swaps h and w: same product
        total += h * w * 3
    return total


def evaluation_dataset(items, split: str, spec: Spec, batch_size: int, failures: DecodeFailures):
    """The prediction-time views (all grid crops) of one split, labelled per view: for val loss."""
    import tensorflow as tf

    chosen = [it for it in items if it.split == split]
    if not chosen:
        return None
    ds = tf.data.Dataset.from_tensor_slices(
        (path_tensor([it.path for it in chosen]), tf.constant([it.label for it in chosen], dtype=tf.int32)))
    ds = _decoded(ds, spec, failures)

    def grid(image, label):
        v = crop_grid(image[None], spec.input_size, spec.grid) if spec.view == "crops" else image[None]
        return tf.data.Dataset.from_tensor_slices((v, tf.fill([tf.shape(v)[0]], label)))

    return ds.flat_map(grid).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def path_tensor(paths):
    """File paths as a string tensor of their bytes (os.fsencode): TensorFlow refuses str that is not
    UTF-8, and a file name may not be (its bytes come back with os.fsdecode in the loader)."""
    import tensorflow as tf

    return tf.constant([os.fsencode(p) for p in paths], dtype=tf.string)


def _decoded(ds, spec: Spec, failures: DecodeFailures):
    import tensorflow as tf

    load = _loader(spec, failures)

    def decode(path, label):
        image, ok = tf.py_function(load, [path], [tf.float32, tf.bool])
        image.set_shape([None, None, 3])
        return image, label, ok

    def decoded_ok(image, label, ok):
        return ok

    def drop_flag(image, label, ok):
        return image, label

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.filter(decoded_ok).map(drop_flag)


def augment_pair(x, label):
    return augment_view(x), label


# Picture-level augmentation (training only, both classes alike): how often each is applied.
JPEG_P = 0.5
RESCALE_P = 1 / 3


def augment_picture(image, size: int, rescale: bool = True):
    """Training-only, on a whole normalized uint8 picture before crops are cut, the same for every
    class so that none of it is a shortcut:
    - a fresh JPEG history: JPEG_P of the time re-encoded at a random quality 60-95 (every realistic
      picture, render or photo, has been through JPEG at least once, some more often);
    - scale: RESCALE_P of the time shrunk by a random factor 0.6-1.0 (never below the crop size),
      so neither class is recognised by the scale its pictures were published at."""
    import tensorflow as tf

    if rescale:
        h = tf.cast(tf.shape(image)[0], tf.float32)
        w = tf.cast(tf.shape(image)[1], tf.float32)
        low = tf.minimum(1.0, tf.maximum(0.6, size / tf.minimum(h, w)))
        factor = tf.random.uniform([], low, 1.0)

        def shrink():
            new = tf.cast(tf.round(tf.stack([h, w]) * factor), tf.int32)
            new = tf.maximum(new, size)
            small = tf.image.resize(tf.cast(image, tf.float32), new, method="area")
            return tf.cast(tf.clip_by_value(tf.round(small), 0, 255), tf.uint8)

        image = tf.cond(tf.random.uniform([]) < RESCALE_P, shrink, lambda: image)

    def recompress():
        quality = tf.random.uniform([], 60, 96, dtype=tf.int32)
        return tf.image.adjust_jpeg_quality(image, quality)

    image = tf.cond(tf.random.uniform([]) < JPEG_P, recompress, lambda: image)
    image.set_shape([None, None, 3])
    return image


def augment_view(x):
    """Training-only, per view (crop or whole square), the same for every class: mirror and mild
    exposure/contrast changes. Takes uint8 or 0-255 float; returns 0-255 float32."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    x = tf.image.random_flip_left_right(x)
    x01 = x / 255.0
    x01 = tf.image.random_brightness(x01, 0.06)
    x01 = tf.image.random_contrast(x01, 0.9, 1.1)
    return tf.clip_by_value(x01, 0.0, 1.0) * 255.0


def unique_failures(failures: DecodeFailures) -> list[dict]:
    return [{"path": p, "error": m} for p, m in sorted(failures.seen.items())]


def describe(items, class_names) -> str:
    c = counts(items, class_names)
    return "; ".join(f"{s}: " + ", ".join(f"{k}={v}" for k, v in c[s].items()) for s in SPLITS)
