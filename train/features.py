"""python -m train.features: the default recipe's picture features for one share of the data, so that N
machines split the expensive part of training (the frozen backbone on every picture).

    python -m train.features --data DIR --shard I/N --out FILE [--max-side PX]     on machine I of N
    python -m train --data DIR --features FILE [FILE ...]                          then on any one

Each machine embeds the pictures of its stable share (train.predict's --shard rule: a hash of the path)
and writes them to FILE, keyed as `--resume` and `--init-from` key them (path, size, modification time
and the geometry): the machines must see the pictures at the same paths (one shared volume). The final
`python -m train` then only fits the head, calibrates and exports; a picture missing from the files
(new, changed, or a share not given) is simply embedded there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import data as data_lib
from .config import config_from_argv, make_spec
from .errors import command
from .predict import in_shard, parse_shard


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.features", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the same data folder `python -m train` will read")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="I/N", help="this machine's share (default: all)")
    p.add_argument("--out", type=Path, required=True, help="features file to write (.npz)")
    p.add_argument("--max-side", type=int, default=None, help="as given to `python -m train` (default: lite0's)")
    args = p.parse_args(argv)
    class_names, items, _ = data_lib.discover(args.data, (1.0, 0.0, 0.0))
    from .lite0_head import embed, save_cache
    from .model import lite0_features

    config = config_from_argv(["--max-side", str(args.max_side)] if args.max_side else [])
    spec, _ = make_spec(config, class_names)
    mine = [it for it in items if in_shard(it.path, args.shard)]
    cache: dict = {}
    failures = data_lib.DecodeFailures()
    embed(lite0_features(), mine, spec, failures, cache=cache)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_cache(cache, args.out)  # written beside, then renamed: a killed job leaves no half file
    print(f"{len(cache)} of {len(items)} pictures' features -> {args.out}"
          + (f" ({len(failures.seen)} unreadable, skipped)" if failures.seen else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
