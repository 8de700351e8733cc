"""Classify pictures with a run, exactly as the run's preprocessing spec says.

    python -m train.predict PATH... [--run RUN] [--csv FILE [--resume]] [--shard I/N]
                            [--workers N | --cluster ADDRESS] [--chunk N]

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

from .csvfile import CSV_ERRORS, open_csv, spreadsheet_safe
from .errors import InputError, command
from .preprocess import IMAGE_EXTENSIONS, TOO_SMALL, BadImage, Spec, decide, load_rgb, model_input, too_small


class TooSmall(BadImage):
    """A readable picture too small for the model to judge (the message starts with TOO_SMALL)."""


def picture_input(path, spec: Spec) -> np.ndarray:
    """The model's input for one picture file [1, H, W, 3]; raises BadImage (TooSmall included)."""
    rgb = load_rgb(path)
    problem = too_small(rgb, spec)
    if problem:
        raise TooSmall(f"{path}: {problem}")
    return model_input(rgb, spec)


def verdict_of(probs, error: str | None, spec: Spec) -> str:
    """What to tell a person about one picture: a class, "unsure", "too small to judge", or "" when
    the file could not be read (its error says why)."""
    if error:
        return TOO_SMALL if f": {TOO_SMALL}" in error else ""
    return decide(probs, spec)


CHUNK = 256  # pictures per chunk; two at most in memory, whatever the number of files


def predict_stream(model, spec: Spec, paths, batch_size: int = 128, chunk: int = CHUNK):
    """Yield (index, probabilities [C] or None, error or None) for every path, a chunk at a time, in the
    order of `paths`.

    Pictures are decoded on a few threads (Pillow releases the GIL) while the model runs, at most
    one chunk ahead; pictures whose inputs have the same size go through the model together."""
    from .model import compiled
    from .progress import Progress

    run = compiled(model)
    paths = [str(p) for p in paths]

    def load(path):
        try:
            return picture_input(path, spec), None
        except BadImage as e:
            return None, str(e)

    bar = Progress("predict", len(paths), quiet_below=50)
    with ThreadPoolExecutor(max_workers=2) as pool:
        submit = lambda start: [pool.submit(load, p) for p in paths[start:start + chunk]]  # noqa: E731
        ahead = submit(0)
        for start in range(0, len(paths), chunk):
            loaded = [f.result() for f in ahead]
            ahead = submit(start + chunk)  # the next chunk decodes while the model runs on this one
            by_shape: dict[tuple, list[int]] = {}  # input shape -> pictures: one batch per shape
            for k, (x, _) in enumerate(loaded):
                if x is not None:
                    by_shape.setdefault(x.shape[1:], []).append(k)
            probs: dict[int, np.ndarray] = {}
            for members in by_shape.values():
                batch = np.concatenate([loaded[k][0] for k in members])
                out = np.concatenate([run(batch[i:i + batch_size]).numpy() for i in range(0, len(batch), batch_size)])
                probs.update(zip(members, out))
            bar.add(len(loaded))
            for k, (_, error) in enumerate(loaded):
                yield start + k, probs.get(k), error
    bar.close()


def predict_files(model, spec: Spec, paths, batch_size: int = 128):
    """-> (probabilities [N, C] with NaN rows for failures, errors [N] of str or None): predict_stream
    gathered."""
    probs = np.full((len(paths), len(spec.class_names)), np.nan, dtype=np.float32)
    errors: list[str | None] = [None] * len(paths)
    for index, p, error in predict_stream(model, spec, paths, batch_size):
        if p is not None:
            probs[index] = p
        errors[index] = error
    return probs, errors


_worker_runs: dict = {}  # on a worker process: run folder -> (spec, model), loaded by its first task


def predict_chunk(paths, run_dir: str) -> list[list[str]]:
    """One task of a prediction job on the engine (train/cluster.py): the CSV rows of these pictures,
    with the run read from `run_dir` (a path the workers see)."""
    from . import runs

    if run_dir not in _worker_runs:
        _worker_runs[run_dir] = runs.load_run_model(Path(run_dir))
    spec, model = _worker_runs[run_dir]
    return [row_of(paths[i], p, error, spec) for i, p, error in predict_stream(model, spec, paths, chunk=len(paths))]


def in_shard(path, shard: tuple[int, int] | None) -> bool:
    """Stable share `I/N` of a file list: by a hash of the path as given, so N machines given the same
    PATH arguments split the job with no file twice and none left out, whatever the listing order."""
    if shard is None:
        return True
    from .data import stable_unit

    i, n = shard
    return int(stable_unit(f"shard:{path}") * n) == i - 1


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: I must be between 1 and N")
    return i, n


def row_of(path, p, error, spec: Spec) -> list[str]:
    """One CSV row, every cell spreadsheet-safe (a path starting with "=" is written "'=...")."""
    verdict = verdict_of(p, error, spec)
    if error:
        cells = [str(path), verdict, ""] + [""] * len(spec.class_names) + [error]
    else:
        cells = [str(path), verdict, spec.class_names[int(np.argmax(p))]] + [f"{x:.6f}" for x in p] + [""]
    return [spreadsheet_safe(c) for c in cells]


def rows_done(path: Path, header: list[str]) -> list[list[str]]:
    """The complete rows of an earlier (maybe killed) CSV with this header; a last row cut off mid-write
    is dropped. Raises ValueError when the file holds another table."""
    with open_csv(path) as f:
        text = f.read()
    rows = []
    try:
        rows.extend(csv.reader(io.StringIO(text)))
    except csv.Error:  # cut off inside a quoted cell: the rows before it are complete
        pass
    else:
        if rows and not text.endswith("\n"):  # cut off in the last row's unquoted part
            rows.pop()
    if not rows:
        return []
    if rows[0] != header:
        raise ValueError(f"{path}: not a predictions CSV of this run (its header differs), so it cannot be resumed")
    return [r for r in rows[1:] if len(r) == len(header)]


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


@command
def main(argv=None) -> int:
    from . import cluster, runs
    from .config import DEFAULT_MODELS, EngineOptions, add_options, check_at_least

    parser = argparse.ArgumentParser(prog="python -m train.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="pictures and/or folders of pictures")
    parser.add_argument("--run", default=None, help=f"run id or run folder (default: {DEFAULT_MODELS}/current)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder holding runs/ and current")
    parser.add_argument("--csv", default=None, metavar="FILE",
                        help="write the rows to FILE instead of stdout (as they come, into .FILE.partial, "
                             "renamed to FILE when all are done)")
    parser.add_argument("--resume", action="store_true",
                        help="with --csv: keep the rows already in FILE (or in its .partial left by a killed "
                             "run) and classify only the files not in them")
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                        help="classify only the I-th of N stable shares of the files (N machines, same PATHs)")
    add_options(parser, EngineOptions)
    args = parser.parse_args(argv)
    check_at_least(parser, args, EngineOptions)
    engine = cluster.engine_of(args.cluster, args.workers, args.chunk)
    if args.resume and not args.csv:
        parser.error("--resume needs --csv FILE")
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:  # a typo in a batch job must not pass for a picture that cannot be read
        raise InputError(f"{', '.join(missing)}: no such file or folder")

    run_dir = runs.resolve(args.models, args.run)
    if engine is None:
        spec, model = runs.load_run_model(run_dir)
    else:  # the workers load the model; here only its spec
        from .preprocess import SPEC_FILE, load_spec

        try:
            spec = load_spec(run_dir / SPEC_FILE)
        except ValueError as e:
            raise runs.RunError(str(e)) from None
    files = [f for f in expand(args.paths) if in_shard(f, args.shard)]
    if not files:
        raise InputError("no pictures found in " + " ".join(args.paths)
                         + (f" (shard {args.shard[0]}/{args.shard[1]})" if args.shard else ""))
    header = ["path", "verdict", "predicted_class"] + [f"p_{c}" for c in spec.class_names] + ["error"]

    done: list[list[str]] = []
    if args.csv:
        target = Path(args.csv)
        partial = target.with_name(f".{target.name}.partial")
        if args.resume:
            source = partial if partial.is_file() else target if target.is_file() else None
            try:
                done = rows_done(source, header) if source else []
            except (OSError, ValueError) as e:
                raise InputError(str(e)) from None
        # Rows go to the .partial file as they come; FILE itself is replaced only when all are done,
        # so an earlier FILE is never left half-overwritten.
        out = open_csv(partial.with_name(partial.name + ".tmp"), "w")
    else:
        out = sys.stdout
        if hasattr(out, "reconfigure"):  # a name that is not UTF-8 is written with its bytes, as in a file
            out.reconfigure(errors=CSV_ERRORS)
    seen = {r[0] for r in done}
    # A path as written now (spreadsheet-safe) or, in a CSV of a version before that rule, as it is.
    todo = [f for f in files if spreadsheet_safe(str(f)) not in seen and str(f) not in seen]
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(c) for c in r] for r in done)  # idempotent: makes older CSVs safe too
    if args.csv:
        out.flush()
        os.replace(out.name, partial)  # the rows kept, complete, before any new one is added
    counts = {"classified": 0, TOO_SMALL: 0, "unreadable": 0}

    def write(row):
        writer.writerow(row)
        counts["classified" if not row[-1] else TOO_SMALL if row[1] == TOO_SMALL else "unreadable"] += 1

    try:
        if engine is None:
            for index, p, error in predict_stream(model, spec, todo):
                write(row_of(todo[index], p, error, spec))
                out.flush()  # a killed job keeps every row written so far
        else:  # rows land a chunk at a time, in the order the chunks finish
            def land(_, rows):
                for row in rows:
                    write(row)
                out.flush()

            chunks = [[str(f) for f in todo[i:i + engine.chunk]] for i in range(0, len(todo), engine.chunk)]
            cluster.run_chunks(engine, predict_chunk, chunks, land, str(Path(run_dir).resolve()), label="predict")
    finally:
        if args.csv:
            out.close()
    if args.csv:
        os.replace(partial, target)
    print(f"{counts['classified']} pictures classified, {counts[TOO_SMALL]} too small to judge, "
          f"{counts['unreadable']} unreadable" + (f"; {len(done)} rows kept from before" if args.resume else "")
          + (f"; rows written to {args.csv}" if args.csv else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
