"""Classify pictures with a run, exactly as the run's preprocessing spec says.

    python -m train.predict PATH... [--run RUN] [--csv FILE]

PATH may be pictures or folders (searched recursively). One row per picture: path, verdict (a class,
"unsure" when the model is not confident enough, or "too small to judge"), the most likely class, the
probability of each class; an unreadable file gets a row with its error instead of a crash.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .preprocess import IMAGE_EXTENSIONS, TOO_SMALL, BadImage, Spec, decide, load_rgb, too_small, views


class TooSmall(BadImage):
    """A readable picture too small for the model to judge (the message starts with TOO_SMALL)."""


def picture_views(path, spec: Spec) -> np.ndarray:
    rgb = load_rgb(path)
    problem = too_small(rgb, spec)
    if problem:
        raise TooSmall(f"{path}: {problem}")
    return views(rgb, spec)


def verdict_of(probs, error: str | None, spec: Spec) -> str:
    """What to tell a person about one picture: a class, "unsure", "too small to judge", or "" when
    the file could not be read (its error says why)."""
    if error:
        return TOO_SMALL if f": {TOO_SMALL}" in error else ""
    return decide(probs, spec)


def predict_files(model, spec: Spec, paths, batch_size: int = 128):
    """-> (probabilities [N, C] with NaN rows for failures, errors [N] of str or None).

    Pictures are decoded on a few threads (Pillow releases the GIL) while the model runs; views of the
    same size are batched together; the views of a picture (1, or grid x grid crops) are averaged into
    its probabilities."""
    from .model import compiled
    from .progress import Progress

    run = compiled(model)
    paths = [str(p) for p in paths]
    probs = np.full((len(paths), len(spec.class_names)), np.nan, dtype=np.float32)
    errors: list[str | None] = [None] * len(paths)
    pending: dict[tuple, list] = {}  # view shape -> [(picture index, views)]: one batch per shape

    def flush(shape):
        group = pending.pop(shape, [])
        if not group:
            return
        batch = np.concatenate([v for _, v in group])
        out = np.concatenate([run(batch[i:i + batch_size]).numpy()
                              for i in range(0, len(batch), batch_size)])
        start = 0
        for index, v in group:
            probs[index] = out[start:start + len(v)].mean(axis=0)
            start += len(v)

    def load(path):
        try:
            return picture_views(path, spec), None
        except BadImage as e:
            return None, str(e)

    bar = Progress("predict", len(paths), quiet_below=50)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for index, (v, error) in enumerate(pool.map(load, paths)):
            bar.add()
            if error:
                errors[index] = error
                continue
            pending.setdefault(v.shape[1:], []).append((index, v))
            if sum(len(x) for _, x in pending[v.shape[1:]]) >= batch_size:
                flush(v.shape[1:])
        for shape in list(pending):
            flush(shape)
    bar.close()
    return probs, errors


def expand(paths) -> list[Path]:
    """Pictures named directly are kept whatever their extension (so errors get reported);
    folders contribute their picture files, recursively, sorted."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            out.append(p)
    return out


def main(argv=None) -> int:
    from . import runs

    parser = argparse.ArgumentParser(prog="python -m train.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="pictures and/or folders of pictures")
    parser.add_argument("--run", default=None, help="run id or run folder (default: models/current)")
    parser.add_argument("--models", default="models", help="models folder holding runs/ and current")
    parser.add_argument("--csv", default=None, metavar="FILE", help="write the rows to FILE instead of stdout")
    args = parser.parse_args(argv)

    try:
        run_dir = runs.resolve(Path(args.models), args.run)
        spec, model = runs.load_run_model(run_dir)
    except runs.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = expand(args.paths)
    if not files:
        print("error: no pictures found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    probs, errors = predict_files(model, spec, files)

    header = ["path", "verdict", "predicted_class"] + [f"p_{c}" for c in spec.class_names] + ["error"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for path, p, error in zip(files, probs, errors):
        verdict = verdict_of(p, error, spec)
        if error:
            writer.writerow([str(path), verdict, ""] + [""] * len(spec.class_names) + [error])
        else:
            writer.writerow([str(path), verdict, spec.class_names[int(np.argmax(p))]]
                            + [f"{x:.6f}" for x in p] + [""])
    if args.csv:
        # Written beside the target and renamed over it: an earlier file is never left half-overwritten.
        tmp = Path(args.csv).with_name(f".{Path(args.csv).name}.tmp")
        tmp.write_text(buf.getvalue())
        os.replace(tmp, args.csv)
    else:
        sys.stdout.write(buf.getvalue())
    small = sum(e is not None and verdict_of(None, e, spec) == TOO_SMALL for e in errors)
    failed = sum(e is not None for e in errors) - small
    print(f"{len(files) - failed - small} pictures classified, {small} too small to judge, {failed} unreadable"
          + (f"; rows written to {args.csv}" if args.csv else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
