"""Classify pictures with a run, exactly as the run's preprocessing spec says.

    python -m train.predict PATH... [--run RUN] [--csv FILE]

PATH may be pictures or folders (searched recursively). One row per picture: path, predicted class,
the probability of each class; an unreadable file gets a row with its error instead of a crash.
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

from .preprocess import IMAGE_EXTENSIONS, BadImage, Spec, load_rgb, views


def picture_views(path, spec: Spec) -> np.ndarray:
    return views(load_rgb(path), spec)


def predict_files(model, spec: Spec, paths, batch_size: int = 128):
    """-> (probabilities [N, C] with NaN rows for failures, errors [N] of str or None).

    Pictures are decoded on a few threads (Pillow releases the GIL) while the model runs; the views of a
    picture (1, or grid x grid crops) are averaged into its probabilities."""
    paths = [str(p) for p in paths]
    probs = np.full((len(paths), len(spec.class_names)), np.nan, dtype=np.float32)
    errors: list[str | None] = [None] * len(paths)
    pending_views, pending_owner = [], []

    def flush():
        if not pending_views:
            return
        batch = np.concatenate(pending_views)
        out = np.concatenate([model(batch[i:i + batch_size], training=False).numpy()
                              for i in range(0, len(batch), batch_size)])
        start = 0
        for index, n in pending_owner:
            probs[index] = out[start:start + n].mean(axis=0)
            start += n
        pending_views.clear()
        pending_owner.clear()

    def load(path):
        try:
            return picture_views(path, spec), None
        except BadImage as e:
            return None, str(e)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for index, (v, error) in enumerate(pool.map(load, paths)):
            if error:
                errors[index] = error
                continue
            pending_views.append(v)
            pending_owner.append((index, len(v)))
            if sum(len(x) for x in pending_views) >= batch_size:
                flush()
        flush()
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

    header = ["path", "predicted_class"] + [f"p_{c}" for c in spec.class_names] + ["error"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for path, p, error in zip(files, probs, errors):
        if error:
            writer.writerow([str(path), ""] + [""] * len(spec.class_names) + [error])
        else:
            writer.writerow([str(path), spec.class_names[int(np.argmax(p))]] + [f"{x:.6f}" for x in p] + [""])
    if args.csv:
        # Written beside the target and renamed over it: an earlier file is never left half-overwritten.
        tmp = Path(args.csv).with_name(f".{Path(args.csv).name}.tmp")
        tmp.write_text(buf.getvalue())
        os.replace(tmp, args.csv)
    else:
        sys.stdout.write(buf.getvalue())
    failed = sum(e is not None for e in errors)
    print(f"{len(files) - failed} pictures classified, {failed} unreadable"
          + (f"; rows written to {args.csv}" if args.csv else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
