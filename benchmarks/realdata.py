"""Group-aware cross-validation on real pictures: the accuracy / size / speed table.

    python -m benchmarks.realdata [--data ../shared/realdata] [--seeds 2] [--folds 4]
                                  [--archs tracenet,rendernet2017] [--quick] [--json FILE]
                                  [--train-args "--epochs 12"]

What it does, for each architecture, seed and fold:
- folds are made of *groups* (one house, one render project: GROUP_PATTERN on the file name), never of
  pictures, so no house or project is ever on both sides; every seed draws a new partition (groups
  ordered by a hash of seed and group, each put in the fold with the fewest pictures of its class so
  far: folds are balanced per class);
- trains with `train.fit.train_model`, the very function `python -m train` uses, with that command's
  defaults (plus --train-args), on the other folds;
- predicts the held-out fold with `train.predict.predict_files` (the prediction procedure of the run's
  preprocessing spec: all crops, voted), and pools the held-out predictions of all folds.
Reported: mean +- standard deviation over seeds (each seed's folds pooled) of accuracy, balanced
accuracy and ROC AUC (at argmax, i.e. P(render) >= 0.5); accuracy per source (file-name prefix) and for
interiors only (INTERIOR rules below); parameters; TF.js bundle bytes for float32/float16/uint8 and
each bundle's accuracy measured by running it in TF.js (Node, WASM backend: `train.tfjs_node`) on the
first seed's held-out pictures; Keras pictures/s on this CPU (predict_files, decoding included);
milliseconds per picture on WASM, in Node (`train/tfjs_predict.mjs`) and in headless Chromium
(`benchmarks.browser_bench`, when present); training seconds per run.

The real pictures are never copied: they are read where they lie. The output is printed (markdown) and,
with --json, written to a file; neither is meant to be committed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "realdata"

# One house (houses_<n>_<room>) or one render project per group. Render names are
# <source>_<project>[-<n>][-<view>]: kuhn_<scene>_<shot>; archvizual_project-1113-2 -> project-1113;
# archvizual_lobby-space-3 -> lobby-space; luisa_living-room-2 -> living-room; jchojna_bedroom-01 ->
# bedroom; wayfair_ALTH4311-r0 -> ALTH (one product scene).
# Names whose part after the source starts with a digit (a photographer's numbered portfolio:
# ambient_039, almer_004start, nikitin_1-3) say little about the shoot: the name up to its first '-'.
GROUP_PATTERN = r"^(houses_\d+|kuhn_[a-z-]+|[a-z]+_[A-Za-z]+(?:-[A-Za-z]+)*(?:-\d+(?=-))?|[a-z]+_\d[^.-]*)"
from train.evaluate import SOURCE_PATTERN  # noqa: E402
SOURCES = ("archvizual", "jchojna", "kuhn", "luisa", "wayfair", "houses")

# Interiors. Photos: the room in the name (houses_<n>_<room>; "frontal" is the street view).
# Renders: a room word in the name, every wayfair_* (furniture room scenes), and the projects below
# whose names say nothing but which show a room (checked by eye once, 2026-11: the other archvizual
# projects, kuhn_archviz-realistic_000[246]*, jchojna's buildings, pavilions and footbridges are
# exteriors or structures and are left out).
PHOTO_INTERIOR_ROOMS = ("bedroom", "kitchen", "bathroom")
RENDER_INTERIOR_WORDS = ("bedroom", "bathroom", "kitchen", "living-room", "lobby", "interior")
RENDER_INTERIOR_SOURCES = ("wayfair",)
RENDER_INTERIOR_NAMES = ("jchojna_adlestrop-house", "jchojna_bargework-01", "jchojna_h2ouse-01",
                         "jchojna_h2ouse-02", "kuhn_archviz-interactive_01", "kuhn_archviz-interactive_02",
                         "kuhn_archviz-interactive_keszhaz2", "kuhn_archviz-realistic_0007")
from train.config import QUANTIZATIONS as _QUANTIZATIONS  # noqa: E402

QUANTIZATIONS = tuple(_QUANTIZATIONS)


def is_interior(path, class_name: str) -> bool:
    stem = Path(path).stem
    if class_name == "photo":
        return stem.rsplit("_", 1)[-1] in PHOTO_INTERIOR_ROOMS
    return (stem in RENDER_INTERIOR_NAMES or stem.split("_", 1)[0] in RENDER_INTERIOR_SOURCES
            or any(w in stem for w in RENDER_INTERIOR_WORDS))


def source_of(path) -> str:
    from train.evaluate import source_of as source

    return source(path, SOURCE_PATTERN)


# ---------------------------------------------------------------- folds


def assign_folds(items, k: int, seed: int, group_pattern: str = GROUP_PATTERN) -> list[int]:
    """Fold index per item: scikit-learn's StratifiedGroupKFold, shuffled by `seed`, over the groups
    (class, group key): folds never split a group and have about the same class mix."""
    from sklearn.model_selection import StratifiedGroupKFold

    from train.data import group_key

    labels = [it.label for it in items]
    groups = [f"{it.label}/{group_key(it.rel, group_pattern)}" for it in items]
    fold = [0] * len(items)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(items)), labels, groups)):
        for i in test:
            fold[i] = f
    return fold


def fold_items(items, folds, test_fold: int, val_fraction: float, seed: int, group_pattern: str):
    """Items with split test (the held-out fold), val (a hashed share of the other folds' groups,
    for early stopping; none when val_fraction is 0) and train."""
    from train.data import group_key, stable_unit

    out = []
    for it, f in zip(items, folds):
        if f == test_fold:
            split = "test"
        else:
            key = group_key(it.rel, group_pattern)
            split = "val" if stable_unit(f"val:{seed}:{key}") < val_fraction else "train"
        out.append(dataclasses.replace(it, split=split))
    return out


def subset(items, per_class: int, seed: int, group_pattern: str):
    """About per_class pictures of each class, whole groups, chosen by hash (for --quick)."""
    from train.data import group_key, stable_unit

    keep, taken = [], {}
    ranked = sorted(items, key=lambda it: (stable_unit(f"{seed}:{group_key(it.rel, group_pattern)}"), it.rel))
    for it in ranked:
        if taken.get(it.label, 0) < per_class:
            keep.append(it)
            taken[it.label] = taken.get(it.label, 0) + 1
    return sorted(keep, key=lambda it: (it.label, it.rel))


# ---------------------------------------------------------------- scores


def scores(paths, labels, probs, class_names, positive: int) -> dict:
    """train/evaluate.py's scores of held-out pictures: overall, per source and on interiors only."""
    from train.evaluate import by_source, evaluate, subset_scores

    labels = np.asarray(labels)
    r = evaluate(labels, probs, class_names, positive)
    out = {k: r.get(k) for k in ("n", "accuracy", "balanced_accuracy", "roc_auc", "confusion_matrix")}
    out["by_source"] = by_source(paths, labels, probs, SOURCE_PATTERN)
    interiors = subset_scores(labels, probs, class_names, [is_interior(p, class_names[y]) for p, y in zip(paths, labels)])
    out["interiors"] = {"n": interiors["n"], "accuracy": interiors.get("accuracy", float("nan")),
                        "balanced_accuracy": interiors.get("balanced_accuracy", float("nan"))}
    return out


def mean_std(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))], float)
    if not len(v):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


# ---------------------------------------------------------------- TF.js (Node) and browser


def model_inputs(paths, spec):
    from train.preprocess import load_rgb, model_input

    return [model_input(load_rgb(p), spec) for p in paths]


def tfjs_probs(bundle: Path, inputs) -> np.ndarray:
    """Per-picture probabilities of a TF.js bundle run in Node (WASM)."""
    from train.tfjs_node import predict_tfjs_pictures

    return predict_tfjs_pictures(bundle, inputs)


def node_wasm_ms(bundle: Path, one_picture: np.ndarray, n: int = 40) -> dict | None:
    """Milliseconds per picture on TF.js WASM in Node, one picture per predict call as the page does;
    load and warm-up removed by timing 4 and 4 + n pictures and taking the difference."""
    from train.tfjs_node import tfjs_available, time_tfjs

    if not tfjs_available():
        return None

    def timed(count):
        return time_tfjs(bundle, np.tile(one_picture, (count, 1, 1, 1)))

    best = min(timed(4 + n) - timed(4) for _ in range(2))
    return {"ms_per_picture": max(best, 0.0) / n}


def browser_wasm_ms(bundle: Path, spec=None):
    """The headless-Chromium WASM timing of `benchmarks.browser_bench.bench_model` (the run's spec, so
    the page cuts as many crops as prediction does), or (None, why) when it is absent or fails."""
    try:
        from benchmarks.browser_bench import bench_model
    except ImportError as e:
        return None, f"n/a (benchmarks.browser_bench.bench_model missing: {e})"
    try:
        got = bench_model(bundle, spec=spec.to_json() if spec is not None else None)
    except Exception as e:  # a broken browser set-up must not lose the whole table
        return None, f"n/a (browser bench failed: {type(e).__name__}: {str(e)[:200]})"
    return {"ms_per_picture": got.get("ms_per_picture"), "raw": got}, None


# ---------------------------------------------------------------- the benchmark


def run_arch(arch, args, class_names, items, log) -> dict:
    from train import data as data_lib
    from train.config import config_from_argv, make_spec
    from train.fit import train_model
    from train.export import export_tfjs
    from train.files import folder_bytes
    from train.predict import predict_files
    from train.tfjs_node import missing as tfjs_missing

    runs, per_seed, quant = [], [], {q: {"paths": [], "labels": [], "probs": []} for q in QUANTIZATIONS}
    keras_first_seed = {"paths": [], "labels": [], "probs": []}
    sizes, timing_node, timing_browser, browser_note = {}, None, None, None
    tfjs_note = None if args.tfjs else "n/a (--no-tfjs)"
    if tfjs_note is None and tfjs_missing():
        tfjs_note = f"n/a (TF.js runner missing: {tfjs_missing()})"
    predict_seconds, predict_pictures = 0.0, 0
    for si, seed in enumerate(args.seed_list):
        folds = assign_folds(items, args.folds, seed, args.group_pattern)
        pooled = {"paths": [], "labels": [], "probs": []}
        fold_scores = []
        for k in range(args.folds):
            fitems = fold_items(items, folds, k, args.val_fraction, seed, args.group_pattern)
            targv = ["--data", str(args.data), "--arch", arch, "--seed", str(seed),
                     "--group-pattern", args.group_pattern] + shlex.split(args.train_args)
            config = config_from_argv(targv)
            spec, positive = make_spec(config, class_names)
            failures = data_lib.DecodeFailures()
            log(f"[{arch}] seed {seed} fold {k + 1}/{args.folds}: "
                + data_lib.describe(fitems, class_names))
            with quiet(args.verbose):
                model, spec, history, stats = train_model(config, spec, fitems, failures)
            test = [it for it in fitems if it.split == "test"]
            t0 = time.perf_counter()
            probs, errors = predict_files(model, spec, [it.path for it in test])
            predict_seconds += time.perf_counter() - t0
            predict_pictures += len(test)
            keep = [i for i, e in enumerate(errors) if e is None]
            paths = [test[i].path for i in keep]
            labels = [test[i].label for i in keep]
            probs = probs[keep]
            fs = scores(paths, labels, probs, class_names, positive)
            fold_scores.append(fs)
            runs.append({"seed": seed, "fold": k, "n_train": sum(it.split == "train" for it in fitems),
                         "n_val": sum(it.split == "val" for it in fitems), "n_test": len(paths),
                         "train_s": round(stats["seconds"], 2), "epochs_run": len(history.get("loss", [])),
                         "best_epoch": stats.get("best_epoch"), "train_views_per_s": stats.get("views_per_s"),
                         "last_train_loss": history.get("loss", [None])[-1],
                         "last_train_accuracy": history.get("accuracy", [None])[-1],
                         "params": int(model.count_params()), "accuracy": fs["accuracy"],
                         "balanced_accuracy": fs["balanced_accuracy"], "roc_auc": fs["roc_auc"]})
            log(f"    trained {stats['seconds']:.0f} s, {len(history.get('loss', []))} epochs; held-out: accuracy "
                f"{fs['accuracy']:.3f}, balanced {fs['balanced_accuracy']:.3f}, AUC {fmt(fs['roc_auc'])}")
            for key, v in (("paths", paths), ("labels", labels), ("probs", list(probs))):
                pooled[key] += v
            if si == 0:
                for key, v in (("paths", paths), ("labels", labels), ("probs", list(probs))):
                    keras_first_seed[key] += v
            if si == 0 and tfjs_note is None and (k < args.tfjs_folds):
                with tempfile.TemporaryDirectory(prefix="realdata-tfjs-") as tmp:
                    vlist = model_inputs(paths, spec)
                    for q in QUANTIZATIONS:
                        with quiet(args.verbose):  # the converter prints an IPython object
                            bundle = export_tfjs(model, Path(tmp) / q, quantize=q)
                        sizes.setdefault(q, folder_bytes(bundle))
                        quant[q]["paths"] += paths
                        quant[q]["labels"] += labels
                        quant[q]["probs"] += list(tfjs_probs(bundle, vlist))
                        if k == 0 and q == args.served and vlist:
                            timing_node = node_wasm_ms(bundle, vlist[0], n=8 if args.quick else 40)
                            if args.browser:
                                timing_browser, browser_note = browser_wasm_ms(bundle, spec)
                            else:
                                browser_note = "n/a (--no-browser)"
            elif si == 0 and k == 0 and not sizes:
                with tempfile.TemporaryDirectory(prefix="realdata-tfjs-") as tmp:
                    try:
                        for q in QUANTIZATIONS:
                            with quiet(args.verbose):
                                sizes[q] = folder_bytes(export_tfjs(model, Path(tmp) / q, quantize=q))
                    except Exception as e:  # no converter: sizes stay unknown
                        log(f"    (TF.js export failed: {e})")
        per_seed.append(scores(pooled["paths"], pooled["labels"], np.array(pooled["probs"]), class_names, 1))
        per_seed[-1]["folds_balanced_accuracy"] = [f["balanced_accuracy"] for f in fold_scores]

    result = {"arch": arch, "params": runs[0]["params"], "runs": runs, "per_seed": per_seed,
              "keras_pictures_per_s": predict_pictures / predict_seconds if predict_seconds else None,
              "train_s": mean_std([r["train_s"] for r in runs]),
              "epochs_run": mean_std([r["epochs_run"] for r in runs]),
              "tfjs_bytes": sizes, "tfjs_note": tfjs_note, "node_wasm": timing_node,
              "browser_wasm": timing_browser, "browser_note": browser_note}
    for name in ("accuracy", "balanced_accuracy", "roc_auc"):
        result[name] = mean_std([s[name] for s in per_seed])
    result["fold_balanced_accuracy"] = mean_std([b for s in per_seed for b in s["folds_balanced_accuracy"]])
    result["by_source"] = {src: mean_std([s["by_source"].get(src, {}).get("accuracy") for s in per_seed])
                           for src in sorted({k for s in per_seed for k in s["by_source"]})}
    result["interiors"] = {k: mean_std([s["interiors"][k] for s in per_seed]) for k in ("accuracy", "balanced_accuracy")}
    if tfjs_note is None and quant["float32"]["paths"]:
        ks = scores(keras_first_seed["paths"][:len(quant["float32"]["paths"])],
                    keras_first_seed["labels"][:len(quant["float32"]["paths"])],
                    np.array(keras_first_seed["probs"][:len(quant["float32"]["paths"])]), class_names, 1)
        result["quantized"] = {"keras": {k: ks[k] for k in ("n", "accuracy", "balanced_accuracy", "roc_auc")}}
        kp = np.array(keras_first_seed["probs"][:len(quant["float32"]["paths"])])
        for q in QUANTIZATIONS:
            qs = scores(quant[q]["paths"], quant[q]["labels"], np.array(quant[q]["probs"]), class_names, 1)
            qp = np.array(quant[q]["probs"])
            result["quantized"][q] = {k: qs[k] for k in ("n", "accuracy", "balanced_accuracy", "roc_auc")}
            result["quantized"][q]["agreement_with_keras"] = float(np.mean(qp.argmax(1) == kp.argmax(1)))
            result["quantized"][q]["max_abs_prob_diff"] = float(np.abs(qp - kp).max())
    return result


class quiet:
    """Keras' per-epoch lines and the pipeline's chatter go to /dev/null unless --verbose."""

    def __init__(self, verbose: bool):
        self.verbose = verbose

    def __enter__(self):
        if self.verbose:
            return self
        sys.stdout.flush()
        self.saved = os.dup(1)
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 1)
        self.saved_stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # also when stdout is captured
        return self

    def __exit__(self, *exc):
        if self.verbose:
            return False
        sys.stdout.close()
        sys.stdout = self.saved_stdout
        sys.stdout.flush()
        os.dup2(self.saved, 1)
        os.close(self.saved)
        os.close(self.null)
        return False


def fmt(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def pm(ms, digits=3) -> str:
    m, s = ms
    if m is None or math.isnan(m):
        return "n/a"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def table(results, args) -> str:
    archs = [r["arch"] for r in results]
    rows = []

    def row(name, values):
        rows.append(f"| {name} | " + " | ".join(values) + " |")

    spread = f"mean ± std over {len(args.seed_list)} seed(s), {args.folds} folds pooled"
    row(f"accuracy ({spread})", [pm(r["accuracy"]) for r in results])
    row("balanced accuracy", [pm(r["balanced_accuracy"]) for r in results])
    row("ROC AUC", [pm(r["roc_auc"]) for r in results])
    row("balanced accuracy per fold (mean ± std over folds)", [pm(r["fold_balanced_accuracy"]) for r in results])
    for src in SOURCES:
        n = next((s["by_source"][src]["n"] for r in results for s in r["per_seed"][:1] if src in s["by_source"]), 0)
        row(f"accuracy {src} (n={n})", [pm(r["by_source"].get(src, (None, None))) for r in results])
    n_int = results[0]["per_seed"][0]["interiors"]["n"] if results else 0
    row(f"accuracy interiors only (n={n_int})", [pm(r["interiors"]["accuracy"]) for r in results])
    row("balanced accuracy interiors only", [pm(r["interiors"]["balanced_accuracy"]) for r in results])
    row("parameters", [f"{r['params']:,}" for r in results])
    for q in QUANTIZATIONS:
        row(f"TF.js bytes {q}", [f"{r['tfjs_bytes'][q]:,} ({r['tfjs_bytes'][q] / 1024:.0f} KB)"
                                 if q in r["tfjs_bytes"] else "n/a" for r in results])
    nq = next((r["quantized"]["float32"]["n"] for r in results if r.get("quantized")), 0)
    row(f"Keras accuracy / balanced, same pictures (n={nq}, seed {args.seed_list[0]})",
        [f"{fmt(r['quantized']['keras']['accuracy'])} / {fmt(r['quantized']['keras']['balanced_accuracy'])}"
         if r.get("quantized") else r["tfjs_note"] for r in results])
    for q in QUANTIZATIONS:
        row(f"TF.js {q} accuracy / balanced (agreement with Keras)",
            [f"{fmt(r['quantized'][q]['accuracy'])} / {fmt(r['quantized'][q]['balanced_accuracy'])} "
             f"({fmt(r['quantized'][q]['agreement_with_keras'])})" if r.get("quantized") else r["tfjs_note"]
             for r in results])
    row("Keras pictures/s (CPU, predict_files incl. decoding)",
        [fmt(r["keras_pictures_per_s"], 1) for r in results])
    row(f"Node WASM ms/picture ({args.served} bundle)",
        [fmt(r["node_wasm"]["ms_per_picture"], 2) if r["node_wasm"] else (r["tfjs_note"] or "n/a") for r in results])
    row(f"browser WASM ms/picture (headless Chromium, {args.served})",
        [fmt(r["browser_wasm"]["ms_per_picture"], 2) if r["browser_wasm"] else (r["browser_note"] or r["tfjs_note"])
         for r in results])
    row("training s per run (mean ± std)", [pm(r["train_s"], 1) for r in results])
    row("epochs run (mean ± std)", [pm(r["epochs_run"], 1) for r in results])
    head = "| metric | " + " | ".join(archs) + " |\n|---|" + "---|" * len(archs)
    return head + "\n" + "\n".join(rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.realdata", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"real pictures (default {DEFAULT_DATA})")
    p.add_argument("--seeds", type=int, default=2, help="seeds, each a new fold partition and training")
    p.add_argument("--folds", type=int, default=4, help="group-aware folds")
    p.add_argument("--archs", default="lite0,tracenet", help="comma-separated architectures")
    p.add_argument("--group-pattern", default=GROUP_PATTERN, help="regex on file names naming a picture's group")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="share of the training groups held out for early stopping (default 0: none, the "
                        "recipe's fixed schedule)")
    p.add_argument("--train-args", default="", help="extra `python -m train` arguments, e.g. '--epochs 8'")
    p.add_argument("--tfjs-folds", type=int, default=None,
                   help="folds of the first seed whose model is exported and run in TF.js (default: all)")
    p.add_argument("--served", choices=QUANTIZATIONS, default="mixed",
                   help="bundle the speed rows time (default: mixed, the bundle lite0 serves)")
    p.add_argument("--no-tfjs", dest="tfjs", action="store_false", help="skip TF.js export and runs")
    p.add_argument("--no-browser", dest="browser", action="store_false", help="skip the headless Chromium timing")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 seed, 2 folds, ~24 pictures per class, 1 short epoch, TF.js on one fold")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--verbose", action="store_true", help="show Keras' training output")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.folds = 1, 2
        args.tfjs_folds = 1 if args.tfjs_folds is None else args.tfjs_folds
        args.train_args = "--epochs 1 --crops-per-image 2 --batch-size 16 " + args.train_args
    if args.seeds < 1 or args.folds < 2:
        p.error("--seeds must be >= 1 and --folds >= 2")
    args.seed_list = list(range(args.seeds))
    args.tfjs_folds = args.folds if args.tfjs_folds is None else args.tfjs_folds
    return args


def log(msg) -> None:
    print(msg, file=sys.stderr, flush=True)


def real_items(data: Path, group_pattern: str, per_class: int | None = None):
    """-> (class names, items) of the pictures in data (all in one split: the benchmarks make their
    own), or about per_class pictures of each class (whole groups) for smoke runs; None after printing
    the one-line error when the folder cannot be used."""
    from train.data import DataError, discover

    try:
        class_names, items, _ = discover(data, (1.0, 0.0, 0.0), group_pattern)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    return class_names, (subset(items, per_class, 0, group_pattern) if per_class else items)


def main(argv=None) -> int:
    args = parse_args(argv)
    found = real_items(args.data, args.group_pattern, 24 if args.quick else None)
    if found is None:
        return 2
    class_names, items = found
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    log(f"{args.data}: {len(items)} pictures, classes {class_names}; archs {archs}; "
        f"{args.seeds} seed(s) x {args.folds} folds")
    t0 = time.time()
    results = [run_arch(arch, args, class_names, items, log) for arch in archs]
    out = table(results, args)
    print(out)
    print(f"\n{len(items)} pictures; groups: {args.group_pattern!r}; train args: {args.train_args!r}; "
          f"val fraction {args.val_fraction}; total {time.time() - t0:.0f} s", flush=True)
    if args.json:
        payload = {"data": str(args.data), "pictures": len(items), "class_names": class_names,
                   "group_pattern": args.group_pattern, "seeds": args.seed_list, "folds": args.folds,
                   "train_args": args.train_args, "val_fraction": args.val_fraction,
                   "seconds": round(time.time() - t0, 1), "table_markdown": out, "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
