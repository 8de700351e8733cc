"""The default recipe's picture features as a job of chunks (train/cluster.py runs them: on a Dask
cluster, a local one, or here), and `python -m train.features`, one share of them on one machine.

    python -m train --workers 2 | --cluster ADDRESS   the features of a run through the engine
    python -m train.features --data DIR --shard I/N --out FILE [--max-side PX]     on machine I of N
    python -m train --data DIR --features FILE [FILE ...]                          then on any one

The job: the pictures not yet embedded are cut into chunks; each task embeds one chunk with the frozen
backbone (the model built once per worker) and sends back its features, which this machine writes at
once as one chunk file (keys, features, the files that could not be read) in the job's folder. The
folder is the job's state: a stopped job run again embeds only the pictures no chunk file holds, and the
features are the union of the chunk files, keyed by path, size, modification time and geometry
(lite0_head.feature_key), so every picture is there exactly once whatever was retried.

`--shard I/N` (train.predict's stable shares) is kept as a thin convenience over the same job for
machines without a Dask cluster: each machine runs its share here and writes FILE; the machines must see
the pictures at the same paths (one shared volume).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from . import cluster, files
from . import data as data_lib
from .config import EngineOptions, add_options, check_at_least, config_from_argv, make_spec
from .errors import command
from .predict import in_shard, parse_shard

CHUNK_GLOB = "chunk-*.npz"
_worker_model: dict = {}  # on a worker process: the backbone, built by its first task


def embed_chunk(items, spec):
    """One task (on a worker): -> (indices of the items embedded, features [n, D] float16, {index: error})."""
    from .lite0_head import embed
    from .model import lite0_features

    if "lite0" not in _worker_model:
        _worker_model["lite0"] = lite0_features()
    failures = data_lib.DecodeFailures()
    kept, X = embed(_worker_model["lite0"], items, spec, failures)
    where = {it.path: i for i, it in enumerate(items)}
    return ([where[it.path] for it in kept], X[:, 0].astype(np.float16),
            {where[path]: message for path, message in failures.seen.items() if path in where})


def iter_chunks(folder: Path):
    """Yield (keys, features [n, D] float32, {key: (path, error)}) for each chunk file of a job folder, one
    at a time (what a streaming head reads). A file that cannot be read counts as not there (its pictures
    are embedded again)."""
    for f in sorted(Path(folder).glob(CHUNK_GLOB)):
        try:
            with np.load(f) as d:
                keys, X = [str(k) for k in d["keys"]], d["features"].astype(np.float32)
                failed = {str(k): (str(p), str(e)) for k, p, e in zip(d["failed_keys"], d["failed_paths"], d["errors"])}
        except (OSError, ValueError, KeyError):
            continue
        yield keys, X, failed


def chunk_keys(path: Path) -> list[str]:
    """The pictures one chunk file holds (their keys)."""
    with np.load(path) as d:
        return [str(k) for k in d["keys"]]


def read_chunks(folder: Path) -> tuple[dict, dict]:
    """The chunk files of a job folder in memory -> ({key: features [1, D] float32}, {key: (path, error)})."""
    features, failed = {}, {}
    for keys, X, bad in iter_chunks(folder):
        features.update((k, x[None]) for k, x in zip(keys, X))
        failed.update(bad)
    return features, failed


def write_chunk(folder: Path, keys, X, failed: list[tuple[str, str, str]]) -> Path:
    """One landed chunk as one file, complete or absent (named by what it holds)."""
    name = hashlib.sha1("\n".join(list(keys) + [k for k, _, _ in failed]).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    path = Path(folder) / f"chunk-{name}.npz"
    with files.replacing(path, ".npz") as tmp:
        np.savez(tmp, keys=np.array(list(keys), dtype=str), features=np.asarray(X, np.float16),
                 failed_keys=np.array([k for k, _, _ in failed], dtype=str),
                 failed_paths=np.array([p for _, p, _ in failed], dtype=str),
                 errors=np.array([e for _, _, e in failed], dtype=str))
    return path


def embed_job(items, spec, folder: Path, failures, engine: cluster.Engine | None,
              chunk: int | None = None, known=(), on_landed=None) -> dict:
    """Features of the items' clean pictures through the engine (cluster.run_chunks), landing in
    `folder`: -> {key: features [1, D]} of every item read, from this job or an earlier one in the same
    folder. Unreadable files go to `failures`. `known`: keys already to hand (not embedded again).
    `on_landed(path)`: called after each chunk file is written."""
    from .lite0_head import feature_key

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    features, failed = read_chunks(folder)
    keys = [feature_key(it.path, spec) for it in items]
    todo = [(k, it) for k, it in zip(keys, items) if k not in features and k not in failed and k not in known]
    size = chunk or (engine.chunk if engine else EngineOptions.chunk)
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    if len(todo) < len(items):
        print(f"features: {len(items) - len(todo)} of {len(items)} pictures already embedded", flush=True)

    def land(i, result):
        kept, X, errors = result
        done = [chunks[i][j][0] for j in kept]
        bad = [(chunks[i][j][0], chunks[i][j][1].path, e) for j, e in errors.items()]
        path = write_chunk(folder, done, X, bad)
        features.update((k, x[None].astype(np.float32)) for k, x in zip(done, X))
        failed.update((k, (p, e)) for k, p, e in bad)
        if on_landed:
            on_landed(path)

    cluster.run_chunks(engine, embed_chunk, [[it for _, it in ch] for ch in chunks], land, spec, label="features")
    for k in keys:
        if k in failed:
            failures.record(*failed[k])
    return features


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.features", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the same data folder `python -m train` will read")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="I/N", help="this machine's share (default: all)")
    p.add_argument("--out", type=Path, required=True, help="features file to write (.npz)")
    p.add_argument("--max-side", type=int, default=None, help="as given to `python -m train` (default: lite0's)")
    add_options(p, EngineOptions)
    args = p.parse_args(argv)
    check_at_least(p, args, EngineOptions)
    class_names, items, _ = data_lib.discover(args.data, (1.0, 0.0, 0.0))
    from .lite0_head import save_cache

    config = config_from_argv(["--max-side", str(args.max_side)] if args.max_side else [])
    spec, _ = make_spec(config, class_names)
    mine = [it for it in items if in_shard(it.path, args.shard)]
    failures = data_lib.DecodeFailures()
    # The chunks land beside FILE, so a machine stopped midway resumes its share.
    chunks = args.out.with_name(f".{args.out.name}.chunks")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    engine = cluster.engine_of(args.cluster, args.workers, args.chunk)
    cache = embed_job(mine, spec, chunks, failures, engine, args.chunk)
    save_cache(cache, args.out)  # written beside, then renamed: a killed job leaves no half file
    files.remove(chunks)
    print(f"{len(cache)} of {len(items)} pictures' features -> {args.out}"
          + (f" ({len(failures.seen)} unreadable, skipped)" if failures.seen else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
