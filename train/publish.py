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
import sys
from pathlib import Path

from . import files, runs, site
from .config import DEFAULT_MODELS
from .errors import command

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
    args = p.parse_args(argv)
    run_dir = runs.resolve(args.models, args.run)
    size = site.publish(args.out, run_dir, *runs.page_files(run_dir))
    if runs.is_demo(run_dir):
        print("note: this model was trained on the synthetic demo data; the page says so to its visitors.")
    model = files.folder_bytes(run_dir / runs.page_files(run_dir)[1])  # the served bundle: the page's "Size"
    print(NEXT_STEPS.format(run=run_dir.name, out=args.out, model=files.size_text(model), total=files.size_text(size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
