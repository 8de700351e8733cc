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
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "EXIT", code, file=sys.stderr)
"""


def measure(module: str, argv: list[str]) -> dict:
    """Run `python -m module argv` in a fresh process: {seconds, peak_mb, exit}."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD.format(argv=[module] + argv, module=module)],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.time() - t0
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("PEAK_RSS_KB")), None)
    if line is None:
        raise RuntimeError(f"{module} did not finish: {proc.stderr[-1500:]}")
    _, kb, _, code = line.split()
    if code != "0":
        raise RuntimeError(f"{module} {' '.join(argv)} exited {code}: {proc.stderr[-1500:]}")
    return {"seconds": round(seconds, 1), "peak_mb": round(int(kb) / 1024), "exit": int(code)}


def source_pictures(data: Path | None, tmp: Path) -> dict[str, list[Path]]:
    """{class: distinct picture files} from --data, or a generated demo set."""
    if data is None:
        from train.demo_data import make_demo_dataset

        data = tmp / "distinct"
        make_demo_dataset(data, n_per_class=DISTINCT, seed=0)
    from train.preprocess import IMAGE_EXTENSIONS

    return {d.name: sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            for d in sorted(Path(data).iterdir()) if d.is_dir()}


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


def parse_sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default="4000,16000,60000", help="training set sizes ('' for none)")
    p.add_argument("--predict", default="1000,10000,100000", help="train.predict sizes ('' for none)")
    p.add_argument("--data", type=Path, default=None, help="pictures to use (default: a generated demo set)")
    p.add_argument("--arch", default="lite0")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        tmp = Path(tmp)
        pictures = source_pictures(args.data, tmp)
        models = tmp / "models"
        for n in parse_sizes(args.train):
            data = folder_of(n, pictures, tmp / f"train{n}")
            m = measure("train", ["--data", str(data), "--models", str(models), "--static-site", "",
                                  "--arch", args.arch, "--run-id", f"scale{n}", "--force"])
            metrics = json.loads((models / "runs" / f"scale{n}" / "metrics.json").read_text())
            t = metrics["timings"]
            rows.append({"job": "python -m train", "pictures": n, **m,
                         "pictures_per_s": round(n / m["seconds"], 1),
                         "training_pictures_per_s": t.get("train_images_per_s"),
                         "phases_s": {k: t.get(k) for k in ("scan_s", "train_s", "eval_s", "export_s")}})
            print(json.dumps(rows[-1]), flush=True)
        if parse_sizes(args.predict) and not (models / "current").exists():
            data = folder_of(400, pictures, tmp / "train-for-predict")
            measure("train", ["--data", str(data), "--models", str(models), "--static-site", "", "--arch", args.arch,
                              "--run-id", "scale-predict", "--force"])
        for n in parse_sizes(args.predict):
            folder = folder_of(n, pictures, tmp / f"predict{n}")
            m = measure("train.predict", [str(folder), "--models", str(models), "--csv", str(tmp / f"p{n}.csv")])
            rows.append({"job": "python -m train.predict", "pictures": n, **m,
                         "pictures_per_s": round(n / m["seconds"], 1)})
            print(json.dumps(rows[-1]), flush=True)
    cpu = f"{os.cpu_count()} cores"
    print(f"\nScale ({args.arch}; {platform.machine()}, {cpu}; wall time includes start-up; "
          f"peak = the process's maximum resident memory)\n")
    print("| job | pictures | wall s | pictures/s (whole command) | pictures/s (training phase) | peak memory |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        phase = r.get("training_pictures_per_s")
        print(f"| {r['job']} | {r['pictures']:,} | {r['seconds']:.0f} | {r['pictures_per_s']:.1f} | "
              f"{'–' if phase is None else f'{phase:.1f}'} | {r['peak_mb']:,} MB |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
