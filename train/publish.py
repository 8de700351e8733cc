"""Write the static page with a run's model as one self-contained folder, for any static host.

    python -m train.publish DIR [--run RUN] [--models DIR]

DIR gets the page, the TF.js runtime (static_site/vendor, built by `bash setup.sh`) and the run's served
TF.js bundle with its preprocessing.json and metrics.json: plain files (no symbolic links), every URL
relative, so it works from a domain's root or from any subpath (a GitHub Pages project site is served
from https://<user>.github.io/<repo>/). The folder is written beside DIR and renamed into place: a
failed publish leaves an earlier one as it was. DIR must be absent, empty, or an earlier publish.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from . import runs
from .preprocess import SPEC_FILE

SITE = Path(__file__).resolve().parents[1] / "static_site"
PAGE_FILES = ("index.html", "app.js", "classifier.js", "learn.js", "preprocess.js", "style.css", "sw.js", "icon.svg")
MARKER = ".render-or-real-publish"  # says a folder is ours to replace

NEXT_STEPS = """\
Published {run} to {out} ({kb:,} KB). Serve that folder as it is:
  try it here:   python -m http.server -d {out} 8000   (then open http://127.0.0.1:8000)
  GitHub Pages:  copy it into a branch (e.g. gh-pages, or docs/ on main), Settings > Pages > that folder
  Netlify:       netlify deploy --dir {out} --prod   (or drag the folder onto app.netlify.com/drop)
  S3 bucket:     aws s3 sync {out} s3://BUCKET/PATH/ --delete   (static website hosting on)
Any host works: the files use relative URLs only."""


class PublishError(Exception):
    """Cannot publish; the message names the path and what is wrong."""


def publish(out: Path, run_dir: Path, site: Path = SITE) -> int:
    """Write the folder; -> its size in bytes."""
    out = Path(out)
    vendor = site / "vendor"
    if not (vendor / "runtime.json").is_file():
        raise PublishError(f"{vendor}: the TF.js runtime is not built; run `bash setup.sh` (or "
                           "`npm --prefix static_site ci && npm --prefix static_site run build`)")
    if out.exists() and not out.is_dir():
        raise PublishError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise PublishError(f"{out}: not empty and not an earlier publish; choose an empty or new folder")
    metrics = runs.load_metrics(run_dir)
    served = run_dir / metrics.get("model", {}).get("served_tfjs", "tfjs")
    tmp = out.with_name(f".{out.name}.publishing")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name in PAGE_FILES:
            shutil.copy(site / name, tmp / name)
        shutil.copytree(vendor, tmp / "vendor", symlinks=False)
        (tmp / "model").mkdir()
        for f in served.iterdir():
            shutil.copy(f, tmp / "model" / f.name)
        for name in (SPEC_FILE, "metrics.json"):
            shutil.copy(run_dir / name, tmp / "model" / name)
        (tmp / MARKER).write_text(json.dumps({"run_id": run_dir.name}) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, metavar="DIR", help="the folder to write")
    p.add_argument("--run", default=None, help="run id or run folder (default: the current run)")
    p.add_argument("--models", type=Path, default=runs.DEFAULT_MODELS, help="models folder (default: models/)")
    args = p.parse_args(argv)
    try:
        run_dir = runs.resolve(args.models, args.run)
        size = publish(args.out, run_dir)
    except (runs.RunError, PublishError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if runs.is_demo(run_dir):
        print("note: this model was trained on the synthetic demo data; the page says so to its visitors.")
    print(NEXT_STEPS.format(run=run_dir.name, out=args.out, kb=size // 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
