"""Scale: training and batch prediction speed and peak memory as the number of pictures grows.

    python -m benchmarks.scale [--train 4000,16000,60000] [--predict 1000,10000,100000] [--data DIR]
                               [--arch lite0] [--json FILE]

Each measurement runs the real command in its own process (`python -m train`, `python -m train.predict`)
and reports its wall time, pictures per second and peak resident memory (the process's own maximum RSS).
The pictures: with --data, the first N files of that folder's classes (repeated under new names when it
has fewer); without, a synthetic demo set (train/demo_data.py) of a few hundred distinct pictures, linked
under N names: decoding and the model see N pictures, the disk holds a few hundred.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTINCT = 150  # demo pictures per class generated when no --data is given

# The child prints its own peak RSS (KB on Linux) after the command, whatever it returns.
CHILD = """
import resource, runpy, sys
sys.argv = {argv!r}
code = 0
try:
    runpy.run_module({module!r}, run_name="__main__")
except SystemExit as e:
    code = e.code or 0
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "EXIT", code, file=sys.stderr)
"""


def measure(module: str, argv: list[str], log: Path) -> dict:
    """Run `python -m module argv` in a fresh process, its output into `log` (progress can be watched):
    {seconds, peak_mb (the process), worker_peak_mb (its largest descendant: an engine's worker), exit}."""
    t0 = time.time()
    with open(log, "w") as out:
        code = subprocess.run([sys.executable, "-c", CHILD.format(argv=[module] + argv, module=module)],
                              cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.time() - t0
    text = log.read_text()
    line = next((ln for ln in text.splitlines() if ln.startswith("PEAK_RSS_KB")), None)
    if line is None or code:
        raise RuntimeError(f"{module} did not finish (exit {code}): {text[-1500:]}")
    _, kb, child_kb, _, code = line.split()
    if code != "0":
        raise RuntimeError(f"{module} {' '.join(argv)} exited {code}: {text[-1500:]}")
    return {"seconds": round(seconds, 1), "peak_mb": round(int(kb) / 1024),
            "worker_peak_mb": round(int(child_kb) / 1024), "exit": int(code)}


def source_pictures(data: Path | None, tmp: Path, distinct: int = DISTINCT,
                    side: int | None = None) -> dict[str, list[Path]]:
    """{class: distinct picture files} from --data, or a generated demo set of `distinct` per class;
    with `side`, copies brought down to that longer side (small pictures: the backbone's cost falls with
    the pixels, so a large job fits in a session)."""
    if data is None:
        from train.demo_data import make_demo_dataset

        data = tmp / "distinct"
        if not data.is_dir():  # a kept --work folder has it already
            make_demo_dataset(data, n_per_class=distinct, seed=0)
    from train.preprocess import IMAGE_EXTENSIONS

    found = {d.name: sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
             for d in sorted(Path(data).iterdir()) if d.is_dir()}
    if side is None:
        return found
    from PIL import Image

    small = {}
    for cls, paths in found.items():
        (tmp / "small" / cls).mkdir(parents=True, exist_ok=True)
        small[cls] = []
        for p in paths:
            with Image.open(p) as im:
                im = im.convert("RGB")
                im.thumbnail((side, side), Image.BILINEAR)
                small[cls].append(tmp / "small" / cls / f"{p.stem}.jpg")
                im.save(small[cls][-1], "JPEG", quality=90)
    return small


def folder_of(n: int, pictures: dict[str, list[Path]], dst: Path) -> Path:
    """A data folder of n pictures (split evenly over the classes), linked under distinct names."""
    per_class = n // len(pictures)
    for cls, files in pictures.items():
        (dst / cls).mkdir(parents=True)
        for i in range(per_class):
            src = files[i % len(files)]
            target = dst / cls / f"p{i:06d}-{src.name}"
            try:
                os.link(src, target)
            except OSError:
                target.symlink_to(src.resolve())
    return dst


HEAD_CHUNK = 512  # feature vectors per chunk file, as the features job writes them by default


def head_features(folder: Path, n: int, width: int, seed: int = 0) -> None:
    """n synthetic feature vectors of the backbone's width, two classes with a weak signal spread over
    every feature, written as the features job's chunk files (the head's cost does not depend on what
    the numbers describe; their label is the first part of the key)."""
    import numpy as np

    from train.features import write_chunk

    rng = np.random.default_rng(seed)
    shift = 0.05 * rng.normal(size=width).astype(np.float32)
    folder.mkdir(parents=True)
    for start in range(0, n, HEAD_CHUNK):
        y = rng.integers(0, 2, min(HEAD_CHUNK, n - start))
        X = rng.normal(size=(len(y), width)).astype(np.float32) + y[:, None] * shift
        write_chunk(folder, [f"{c}/{start + i}" for i, c in enumerate(y)], X, [])


def head_batches(folder: Path):
    """The chunk files as (X, labels, weights) batches, read afresh on every pass."""
    import numpy as np

    from train.features import iter_chunks

    def batches():
        for keys, X, _ in iter_chunks(folder):
            y = np.array([int(k.split("/")[0]) for k in keys])
            yield X, y, np.ones(len(y))
    return batches


def fit_head_here(kind: str, folder: Path, out: Path) -> None:
    """One head fit (the child process of a --head measurement): `in-memory` holds every feature, as
    `python -m train` does, and fits it as lite0_head does; `streaming` reads the chunk files on every
    pass (lite0_head.fit_streaming). Same C; kernel, bias and seconds saved to `out`."""
    import numpy as np

    from train.lite0_head import C_GRID, _fit_lr, affine_logits, fit_streaming

    t0 = time.time()
    if kind == "in-memory":
        parts = list(head_batches(folder)())
        X, y, w = (np.concatenate([p[i] for p in parts]) for i in range(3))
        del parts
        kernel, bias = affine_logits(_fit_lr(X, y, w, C_GRID[1], 0), 2)
        passes = None
    else:
        kernel, bias, stats = fit_streaming(head_batches(folder), 2, C_GRID[1])
        passes = stats["passes"]
    np.savez(out, kernel=kernel, bias=bias, seconds=time.time() - t0, passes=-1 if passes is None else passes)


def compare_heads(folder: Path, a: Path, b: Path) -> dict:
    """Verdicts and probabilities of two fitted heads on every vector of the chunk files."""
    import numpy as np

    from train.calibrate import softmax

    ha, hb = np.load(a), np.load(b)
    same = total = 0
    worst = 0.0
    for X, _, _ in head_batches(folder)():
        pa, pb = softmax(X @ ha["kernel"] + ha["bias"]), softmax(X @ hb["kernel"] + hb["bias"])
        same += int((pa.argmax(1) == pb.argmax(1)).sum())
        total += len(X)
        worst = max(worst, float(np.abs(pa - pb).max()))
    return {"same_verdicts": same / total, "max_probability_difference": worst}


def measure_heads(sizes, tmp: Path) -> list[dict]:
    """For each size: the in-memory fit and the streaming fit, each in its own process."""
    from train.model import lite0_features

    width = int(lite0_features().output.shape[-1])  # the backbone's, whatever it is today
    rows = []
    for n in sizes:
        folder = tmp / f"head{n}"
        head_features(folder, n, width)
        fits = {}
        for kind in ("in-memory", "streaming"):
            out = tmp / f"head{n}-{kind}.npz"
            m = measure("benchmarks.scale", ["--fit-head", kind, str(folder), str(out)],
                        tmp / "logs" / f"head{n}-{kind}.log")
            import numpy as np

            fits[kind] = out
            rows.append({"job": f"head, {kind}", "where": "in process", "pictures": n, "width": width, **m,
                         "fit_s": round(float(np.load(out)["seconds"]), 1),
                         "pictures_per_s": round(n / m["seconds"], 1)})
            print(json.dumps(rows[-1]), flush=True)
        rows[-1].update(compare_heads(folder, fits["in-memory"], fits["streaming"]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def parse_sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default="4000,16000,60000", help="training set sizes ('' for none)")
    p.add_argument("--predict", default="1000,10000,100000", help="train.predict sizes ('' for none)")
    p.add_argument("--data", type=Path, default=None, help="pictures to use (default: a generated demo set)")
    p.add_argument("--arch", default="lite0")
    p.add_argument("--distinct", type=int, default=DISTINCT, help="generated distinct pictures per class")
    p.add_argument("--side", type=int, default=None,
                   help="bring the pictures down to this longer side first (e.g. 96: small pictures)")
    p.add_argument("--work", type=Path, default=None,
                   help="work folder kept afterwards (runs, features, CSVs); default: a temporary one")
    p.add_argument("--workers", default="", help="also run each job on local Dask clusters of these sizes "
                                                 "(e.g. 1,2; '' for in-process only, 0 for in-process too)")
    p.add_argument("--chunk", type=int, default=None, help="pictures per engine task (default: the options')")
    p.add_argument("--head", default="", help="head fits on synthetic features of these sizes, in memory and "
                                              "streaming (e.g. 20000,60000)")
    p.add_argument("--fit-head", nargs=3, default=None, help=argparse.SUPPRESS)  # a --head measurement's child
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.fit_head:
        kind, folder, out = args.fit_head
        fit_head_here(kind, Path(folder), Path(out))
        return 0
    ways = [None] if not args.workers else [int(w) or None for w in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        tmp = Path(tmp) if args.work is None else args.work
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "logs").mkdir(exist_ok=True)
        rows += measure_heads(parse_sizes(args.head), tmp)
        if not parse_sizes(args.train) and not parse_sizes(args.predict):
            return report(rows, args)
        pictures = source_pictures(args.data, tmp, args.distinct, args.side)
        models = tmp / "models"

        def engine_args(workers):
            return ([] if workers is None else ["--workers", str(workers)]) + \
                ([] if args.chunk is None or workers is None else ["--chunk", str(args.chunk)])

        def where(workers):
            return "in process" if workers is None else f"{workers} local worker{'s' * (workers != 1)}"

        for n in parse_sizes(args.train):
            data = folder_of(n, pictures, tmp / f"train{n}")
            for w in ways:
                run_id = f"scale{n}-{'w' + str(w) if w else 'here'}"
                m = measure("train", ["--data", str(data), "--models", str(models), "--static-site", "", "--arch",
                                      args.arch, "--run-id", run_id, "--force"] + engine_args(w),
                            tmp / "logs" / f"{run_id}.log")
                metrics = json.loads((models / "runs" / run_id / "metrics.json").read_text())
                t = metrics["timings"]
                rows.append({"job": "python -m train", "where": where(w), "pictures": n, **m,
                             "pictures_per_s": round(n / m["seconds"], 1),
                             "training_pictures_per_s": t.get("train_images_per_s"),
                             "phases_s": {k: t.get(k) for k in ("scan_s", "train_s", "eval_s", "export_s")},
                             "head_s": metrics["training"].get("head_s")})
                print(json.dumps(rows[-1]), flush=True)
        if parse_sizes(args.predict) and not (models / "current").exists():
            data = folder_of(400, pictures, tmp / "train-for-predict")
            measure("train", ["--data", str(data), "--models", str(models), "--static-site", "", "--arch", args.arch,
                              "--run-id", "scale-predict", "--force"], tmp / "logs" / "scale-predict.log")
        for n in parse_sizes(args.predict):
            folder = folder_of(n, pictures, tmp / f"predict{n}")
            for w in ways:
                name = f"p{n}-{'w' + str(w) if w else 'here'}"
                m = measure("train.predict", [str(folder), "--models", str(models), "--csv", str(tmp / f"{name}.csv")]
                            + engine_args(w), tmp / "logs" / f"{name}.log")
                rows.append({"job": "python -m train.predict", "where": where(w), "pictures": n, **m,
                             "pictures_per_s": round(n / m["seconds"], 1)})
                print(json.dumps(rows[-1]), flush=True)
    return report(rows, args)


def report(rows: list[dict], args) -> int:
    cpu = f"{os.cpu_count()} cores"
    print(f"\nScale ({args.arch}; {platform.machine()}, {cpu}; wall time includes start-up; "
          f"peak = the process's maximum resident memory)\n")
    print("| job | where | pictures | wall s | pictures/s (whole command) | pictures/s (training phase) | "
          "peak memory | largest worker |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        phase = r.get("training_pictures_per_s")
        worker = "–" if r["where"] == "in process" else f"{r['worker_peak_mb']:,} MB"
        print(f"| {r['job']} | {r['where']} | {r['pictures']:,} | {r['seconds']:.0f} | {r['pictures_per_s']:.1f} | "
              f"{'–' if phase is None else f'{phase:.1f}'} | {r['peak_mb']:,} MB | {worker} |")
    heads = [r for r in rows if "same_verdicts" in r]
    if heads:
        print("\nThe head on synthetic features (one fit at the default C; `python -m train` also runs its "
              "cross-validation's fits):\n\n| pictures | width | same verdicts | largest probability difference |"
              "\n|---|---|---|---|")
        for r in heads:
            print(f"| {r['pictures']:,} | {r['width']:,} | {100 * r['same_verdicts']:.3f} % | "
                  f"{r['max_probability_difference']:.2g} |")
    per_worker = [(r["training_pictures_per_s"] or 0) / int(r["where"].split()[0]) for r in rows
                  if r["job"] == "python -m train" and r["where"] != "in process"]
    if per_worker:
        rate = max(per_worker)
        print(f"\nOn paper, 1,000,000 pictures' features at the best measured {rate:.1f} pictures/s a worker "
              "(one worker a machine like this one, the scheduler's overhead not counted): "
              + ", ".join(f"{n} machine{'s' * (n > 1)}: {1e6 / (rate * n) / 3600:.1f} h" for n in (1, 10, 50, 100)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
