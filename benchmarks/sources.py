"""Leave one source out: how the recipe does on render studios and photo collections it has never seen.

    python -m benchmarks.sources [--data ../shared/realdata] [--variant NAME="TRAIN ARGS" ...]
                                 [--quick] [--json FILE]

A source is a file-name prefix (`houses_12_kitchen.jpg` -> houses): one render studio, one photo
collection. Each source in turn is held out entirely; the recipe is trained on all the others exactly as
`python -m train` trains (`train.fit.train_model`: fitting, calibration and the "unsure" level are
chosen inside the training sources only, with a hashed share of their groups as the validation split),
and the held-out source is predicted with `train.predict.predict_files`, the prediction procedure of
the run's spec. Every source is single-class, so its score is the recall of its class.

Reported per variant: the mean of the per-source recalls (every source counts the same), the same over
sources with at least 5 pictures (a 1-picture source moves the plain mean by 4 points), the means over
render and photo sources, the worst source; the pooled balanced accuracy and ROC AUC of all held-out
answers; how often the recipe answers rather than says "unsure", and its accuracy when it answers; and
a table of the recall of every source.

The variants are `python -m train` argument strings. The default compares the default recipe with the
variants tried while choosing it; `--variant` replaces that list. The realdata pictures are read where
they lie; nothing is copied.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.realdata import DEFAULT_DATA, GROUP_PATTERN, fmt, log, quiet, real_items, source_of

VARIANTS = {
    "lite0 (default)": "",
    "lite0, longer side 512": "--max-side 512",
    "lite0, longer side 256": "--max-side 256",
    "lite0, 2 augmented copies": "--copies 2",
    "lite0, calibrated holding sources out": "--calibrate-holding-out sources",
}
MIN_SOURCE = 5  # pictures: sources below this are left out of the "sources >= 5" mean


def loso_items(items, held_out: str, val_fraction: float, group_pattern: str):
    """The items with split test (the held-out source) and train/val (val: a hashed share of the
    other sources' groups)."""
    from train.data import group_key, stable_unit

    out = []
    for it in items:
        if source_of(it.path) == held_out:
            split = "test"
        else:
            split = "val" if stable_unit(f"val:{group_key(it.rel, group_pattern)}") < val_fraction else "train"
        out.append(dataclasses.replace(it, split=split))
    return out


def held_out_sources(items, limit: int | None) -> list[str]:
    """Every source, or (limit) that many, taken in turn from each class, largest first."""
    by_class: dict[int, list[str]] = {}
    for src, label in sorted({(source_of(it.path), it.label) for it in items}):
        by_class.setdefault(label, []).append(src)
    size = {s: sum(source_of(it.path) == s for it in items) for lst in by_class.values() for s in lst}
    queues = [sorted(v, key=lambda s: (-size[s], s)) for _, v in sorted(by_class.items())]
    order = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    return sorted(order[:limit] if limit else order)


def run_variant(name: str, train_args: str, args, class_names, items, log) -> dict:
    from train import data as data_lib
    from train.config import config_from_argv, make_spec
    from train.fit import train_model
    from train.predict import predict_files

    sources = held_out_sources(items, args.max_sources)
    cache: dict = {}  # clean-picture features, shared by the folds of this variant
    held = {"paths": [], "labels": [], "probs": [], "sure": [], "source": []}
    seconds = []
    for k, src in enumerate(sources):
        fitems = loso_items(items, src, args.val_fraction, args.group_pattern)
        config = config_from_argv(["--data", str(args.data), "--group-pattern", args.group_pattern]
                                  + shlex.split(train_args))
        spec, _ = make_spec(config, class_names)
        t0 = time.time()
        with quiet(args.verbose):
            model, spec, _, stats = train_model(config, spec, fitems, data_lib.DecodeFailures(), cache=cache)
        seconds.append(time.time() - t0)
        test = [it for it in fitems if it.split == "test"]
        probs, errors = predict_files(model, spec, [it.path for it in test])
        keep = [i for i, e in enumerate(errors) if e is None]
        p = probs[keep]
        sure = np.ones(len(keep), bool) if spec.unsure_below is None else p.max(1) >= spec.unsure_below
        held["paths"] += [test[i].path for i in keep]
        held["labels"] += [test[i].label for i in keep]
        held["probs"] += list(p)
        held["sure"] += list(sure)
        held["source"] += [src] * len(keep)
        recall = float(np.mean(p.argmax(1) == np.array([test[i].label for i in keep]))) if keep else float("nan")
        log(f"[{name}] {k + 1}/{len(sources)} held out {src} ({len(keep)} {class_names[test[0].label]}): "
            f"recall {recall:.3f}, sure on {sure.mean() if len(sure) else 0:.0%}; {seconds[-1]:.0f} s")
    return summarize(name, train_args, held, class_names, seconds)


def summarize(name, train_args, held, class_names, seconds) -> dict:
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    labels, probs = np.array(held["labels"]), np.array(held["probs"])
    sure, srcs = np.array(held["sure"], bool), np.array(held["source"])
    right = probs.argmax(1) == labels
    per_source = {}
    for s in sorted(set(srcs)):
        m = srcs == s
        per_source[s] = {"n": int(m.sum()), "class": class_names[int(labels[m][0])], "recall": float(right[m].mean()),
                         "sure": float(sure[m].mean()),
                         "accuracy_when_sure": float(right[m & sure].mean()) if (m & sure).any() else None}
    recalls = {s: v["recall"] for s, v in per_source.items()}
    big = [v["recall"] for v in per_source.values() if v["n"] >= MIN_SOURCE]
    by_class = {c: [v["recall"] for v in per_source.values() if v["class"] == c] for c in class_names}
    worst = min(recalls, key=recalls.get)
    out = {"variant": name, "train_args": train_args, "sources": len(per_source), "pictures": int(len(labels)),
           "mean_source_recall": float(np.mean(list(recalls.values()))),
           "mean_source_recall_big": float(np.mean(big)) if big else float("nan"),
           "mean_recall_by_class": {c: float(np.mean(v)) if v else float("nan") for c, v in by_class.items()},
           "worst_source": worst, "worst_recall": recalls[worst],
           "pooled_balanced_accuracy": float(balanced_accuracy_score(labels, probs.argmax(1))),
           "coverage": float(sure.mean()), "accuracy_when_sure": float(right[sure].mean()) if sure.any() else None,
           "balanced_accuracy_when_sure": (float(balanced_accuracy_score(labels[sure], probs[sure].argmax(1)))
                                           if len(set(labels[sure])) > 1 else None),
           "train_s_per_fold": float(np.mean(seconds)), "per_source": per_source}
    if len(class_names) == 2:
        out["pooled_roc_auc"] = float(roc_auc_score(labels == 1, probs[:, 1]))
    return out


def table(results) -> str:
    names = [r["variant"] for r in results]
    head = "| metric | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    rows = []

    def row(label, values):
        rows.append(f"| {label} | " + " | ".join(values) + " |")

    row("mean recall over held-out sources", [fmt(r["mean_source_recall"]) for r in results])
    row(f"same, sources with >= {MIN_SOURCE} pictures", [fmt(r["mean_source_recall_big"]) for r in results])
    for c in results[0]["mean_recall_by_class"]:
        row(f"mean over {c} sources", [fmt(r["mean_recall_by_class"][c]) for r in results])
    row("worst source", [f"{r['worst_source']} {fmt(r['worst_recall'], 2)}" for r in results])
    row("pooled balanced accuracy", [fmt(r["pooled_balanced_accuracy"]) for r in results])
    if "pooled_roc_auc" in results[0]:
        row("pooled ROC AUC", [fmt(r["pooled_roc_auc"]) for r in results])
    row("answered (not unsure)", [f"{r['coverage']:.0%}" for r in results])
    row("accuracy when answered", [fmt(r["accuracy_when_sure"]) for r in results])
    row("balanced accuracy when answered", [fmt(r["balanced_accuracy_when_sure"]) for r in results])
    row("training s per fold", [fmt(r["train_s_per_fold"], 1) for r in results])
    sources = results[0]["per_source"]
    per = ["", "| held-out source (n, class) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for s, v in sources.items():
        per.append(f"| {s} ({v['n']}, {v['class']}) | "
                   + " | ".join(fmt(r["per_source"][s]["recall"], 2) for r in results) + " |")
    return head + "\n" + "\n".join(rows) + "\n" + "\n".join(per)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.sources", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"real pictures (default {DEFAULT_DATA})")
    p.add_argument("--variant", action="append", default=[], metavar='NAME="TRAIN ARGS"',
                   help="a recipe to measure: a name and `python -m train` arguments (repeatable; default: "
                        + "; ".join(f"{k}: '{v}'" for k, v in VARIANTS.items()) + ")")
    p.add_argument("--group-pattern", default=GROUP_PATTERN, help="regex on file names naming a picture's group")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the training sources' groups in the validation split (default 0.1)")
    p.add_argument("--max-sources", type=int, default=None,
                   help="hold out only this many sources (the largest, alternating classes; default: all)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: ~16 pictures per class, the default recipe, 4 sources held out")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--verbose", action="store_true", help="show the training output")
    args = p.parse_args(argv)
    variants = {}
    for v in args.variant:
        name, sep, targs = v.partition("=")
        if not sep or not name:
            p.error(f"--variant {v!r}: expected NAME=\"TRAIN ARGS\"")
        variants[name] = targs
    args.variants = variants or ({"lite0 (default)": ""} if args.quick else dict(VARIANTS))
    if args.quick:
        args.max_sources = args.max_sources or 4
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    found = real_items(args.data, args.group_pattern, 16 if args.quick else None)
    if found is None:
        return 2
    class_names, items = found
    t0 = time.time()
    log(f"{args.data}: {len(items)} pictures, {len({source_of(it.path) for it in items})} sources; "
        f"variants: {', '.join(args.variants)}")
    results = [run_variant(name, targs, args, class_names, items, log) for name, targs in args.variants.items()]
    out = table(results)
    print(out)
    print(f"\n{len(items)} pictures; leave one source out; validation share {args.val_fraction}; "
          f"total {time.time() - t0:.0f} s", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": str(args.data), "results": results, "table_markdown": out},
                                        indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
