"""Write the static page with a run's model as one self-contained folder, for any static host.

    python -m train.publish DIR [--run RUN] [--models DIR] [--with-sources]

DIR gets the page, the TF.js runtime (static_site/vendor, built by `bash setup.sh`) and the run's served
TF.js bundle with its preprocessing.json and a public metrics.json (what the page shows and the run's
scores: no command line, no server paths, no training file names; the accuracy per source, which names
the training sources, only with --with-sources): plain files, every URL relative, so it works from a
domain's root or from any subpath (a GitHub Pages project site is served from
https://<user>.github.io/<repo>/). The folder is written beside DIR and renamed into place: a failed
publish leaves an earlier one as it was. DIR must be absent, empty (a host's .git/, .nojekyll or CNAME
aside), or an earlier publish; what it holds that the page does not own is kept, and a DIR that is a
symbolic link stays one (its target is published).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import files, runs, site
from .config import DEFAULT_MODELS
from .errors import command

# A published metrics.json: what the page reads (run id, date, architecture, test accuracy and count,
# served bundle size, demo flag, the unsure level's target) and the scores, nothing that names the server
# or the training files. Allow-listed, so a field added to metrics.json later is not published unasked.
PUBLIC_SCORES = ("n", "accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "roc_auc",
                 "at_threshold", "when_sure")
SOURCE_SCORES = ("by_source", "slices")  # name the training sources (file-name prefixes) and slices
PUBLIC_MODEL = ("params", "bytes", "served_tfjs", "quantize")


def public_metrics(m: dict, with_sources: bool = False) -> dict:
    keep = PUBLIC_SCORES + (SOURCE_SCORES if with_sources else ())

    def scores(report):
        return {k: report[k] for k in keep if k in report} if isinstance(report, dict) else None

    data, model = m.get("data") or {}, m.get("model") or {}
    return {"run_id": m.get("run_id"), "created": m.get("created"), "arch": m.get("arch"),
            "class_names": m.get("class_names"), "positive_class": m.get("positive_class"),
            "threshold": m.get("threshold"),
            "data": {"synthetic": bool(data.get("synthetic")), "counts": data.get("counts")},
            "val": scores(m.get("val")), "test": scores(m.get("test")), "unsure": m.get("unsure"),
            "model": {k: model[k] for k in PUBLIC_MODEL if k in model}}

NEXT_STEPS = """\
Published {run} to {out}: its model {model}, {total} with the page and runtime. Serve that folder as it is:
  try it here:   python -m http.server -d {out} 8000   (then open http://127.0.0.1:8000)
  GitHub Pages:  copy it into a branch (e.g. gh-pages, or docs/ on main), Settings > Pages > that folder
  Netlify:       netlify deploy --dir {out} --prod   (or drag the folder onto app.netlify.com/drop)
  S3 bucket:     aws s3 sync {out} s3://BUCKET/PATH/ --delete   (static website hosting on)
Any host works: the files use relative URLs only."""


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, metavar="DIR", help="the folder to write")
    p.add_argument("--run", default=None, help="run id or run folder (default: the current run)")
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help=f"models folder (default: {DEFAULT_MODELS}/)")
    p.add_argument("--with-sources", action="store_true",
                   help="also publish the accuracy per source and per slice (names the training sources)")
    args = p.parse_args(argv)
    run_dir = runs.resolve(args.models, args.run)
    names, tfjs_dir = runs.page_files(run_dir)
    written = {"metrics.json": public_metrics(runs.load_metrics(run_dir), args.with_sources)}
    size = site.publish(args.out, run_dir, [n for n in names if n not in written], tfjs_dir, written)
    if runs.is_demo(run_dir):
        print("note: this model was trained on the synthetic demo data; the page says so to its visitors.")
    model = files.folder_bytes(run_dir / runs.page_files(run_dir)[1])  # the served bundle: the page's "Size"
    print(NEXT_STEPS.format(run=run_dir.name, out=args.out, model=files.size_text(model), total=files.size_text(size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
