"""python -m train: image folders -> a Keras model, a TF.js bundle and an evaluation report.

    data/<class>/**/*.{jpg,jpeg,png,webp,bmp,gif}   one folder per class, any number >= 2
    models/runs/<run-id>/                           everything one run writes
    models/current -> runs/<run-id>                 moved only once a run is complete

With no data folder, a synthetic demo data set (render vs photo) is generated and used.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import platform
import re
import shlex
import sys
import time
import warnings

import numpy as np
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out of the way

from . import data as data_lib  # noqa: E402
from . import runs  # noqa: E402
from .preprocess import SPEC_FILE, Spec, save_spec  # noqa: E402

DEFAULT_DATA = Path("data")
VIEWS_PER_EPOCH = 4096  # crops view, --crops-per-image not given: crops per picture = this / pictures


def crops_per_image(args, n_train: int) -> int:
    """Random crops per training picture per epoch: as asked, else enough for about VIEWS_PER_EPOCH
    crops an epoch (few pictures: many crops each, since decoding is the cost and crops are cheap)."""
    if args.crops_per_image:
        return args.crops_per_image
    return int(min(32, max(2, math.ceil(VIEWS_PER_EPOCH / max(n_train, 1)))))


def epochs_for(args, n_train: int) -> int:
    """Most epochs: as asked, else 16 for a small training set (its pictures come round often, with
    fresh crops and augmentation each time) and 8 for a large one (each epoch already varied)."""
    if args.epochs:
        return args.epochs
    return 16 if n_train < 1000 else 8


def parse_args(argv=None) -> argparse.Namespace:
    from .export import QUANTIZATIONS
    from .model import ARCHS

    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with one sub-folder of pictures per class (default: data/; when data/ "
                        "does not exist a synthetic demo set is generated)")
    p.add_argument("--out", "--models", dest="models", type=Path, default=Path("models"),
                   help="output folder: runs go to OUT/runs/<run-id>, OUT/current points at the latest")
    p.add_argument("--arch", choices=list(ARCHS), default="lite0",
                   help="; ".join(f"{k}: {v['about']}" for k, v in ARCHS.items()))
    p.add_argument("--epochs", type=int, default=None,
                   help="most epochs to train, early stopping may end sooner (default: 16 for fewer than "
                        "1000 training pictures, else 8)")
    p.add_argument("--patience", type=int, default=6, help="epochs without val-loss improvement before stopping")
    p.add_argument("--batch-size", type=int, default=32, help="views per training batch")
    p.add_argument("--image-size", type=int, default=None,
                   help="model input size in pixels (default: 64 crops for tracenet, 200 for rendernet2017)")
    p.add_argument("--grid", type=int, default=4, help="crops view: grid x grid crops are voted at prediction")
    p.add_argument("--max-side", type=int, default=None,
                   help="crops and picture views: longer side brought down to this (default: 384 for lite0, "
                        "512 for tracenet)")
    p.add_argument("--copies", type=int, default=0,
                   help="lite0: augmented copies (JPEG, scale, mirror, exposure) of each training picture whose "
                        "features the head also learns from (default 0: measured no better on sources held out)")
    p.add_argument("--crops-per-image", type=int, default=None,
                   help="crops view: random crops cut from each decoded training picture per epoch (default: "
                        f"enough for about {VIEWS_PER_EPOCH} crops per epoch, 2 to 32 per picture)")
    p.add_argument("--learning-rate", "--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and augmentation")
    p.add_argument("--split", default="80/10/10", help="train/val/test percentages (default 80/10/10)")
    p.add_argument("--group-pattern", default=None,
                   help="regex on file names; pictures whose match (first group) is equal share a split (one "
                        "house, one render project). Default: the file name without its last part after a "
                        "'_', '-', ' ' or '.' when that part is a word or a 1-2 digit number (houses_12_kitchen "
                        "-> houses_12, project-7-2 -> project-7; IMG_1234 stays alone). 'none': every picture "
                        "on its own")
    p.add_argument("--source-pattern", default=r"^([^_]+)_",
                   help="regex on file names whose first group names a picture's source; metrics.json "
                        "reports accuracy per source (default: the text before the first '_')")
    p.add_argument("--slice", dest="slice_specs", action="append", default=[], metavar="NAME=REGEX",
                   help="also score the pictures whose path matches REGEX, reported as NAME in metrics.json "
                        "(repeatable; e.g. interiors='bedroom|kitchen|bathroom|interior')")
    p.add_argument("--positive-class", default=None,
                   help="two classes: the class the threshold and ROC are about (default: the second name)")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS), default=None,
                   help="weights of the TF.js bundle the static site serves: float16 is half the bytes of "
                        "float32 with the same answers to ~1e-3; uint8 a quarter, at some accuracy cost "
                        "(large for lite0); mixed: uint8 for lite0's later blocks, float16 elsewhere "
                        "(metrics.json tfjs_check measures each). Default: mixed for lite0 (3.4 MB instead of "
                        "6), float16 for the others")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--static-site", type=Path, default=Path("static_site"),
                   help="static site whose model/ folder is refreshed from the new run ('' to skip)")
    p.add_argument("--demo-per-class", type=int, default=1000, help="demo data: pictures per class")
    p.add_argument("--run-id", default=None, help="name of the run folder (default: time stamp + arch)")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the report's command line
    try:
        parts = [float(x) for x in args.split.split("/")]
        assert len(parts) == 3 and all(x >= 0 for x in parts) and parts[0] > 0 and sum(parts) > 0
    except (ValueError, AssertionError):
        p.error(f"--split {args.split!r}: expected three percentages like 80/10/10")
    args.fractions = tuple(x / sum(parts) for x in parts)
    args.quantize = args.quantize or ARCHS[args.arch].get("quantize", "float16")
    for name in ("epochs", "batch_size", "grid", "crops_per_image", "demo_per_class", "max_side"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.copies < 0:
        p.error("--copies must be 0 or more")
    if args.seed < 0:
        p.error("--seed must be 0 or more")
    args.slices = {}
    for item in args.slice_specs:
        name, sep, pattern = item.partition("=")
        try:
            re.compile(pattern)
        except re.error as e:
            p.error(f"--slice {item!r}: bad regex ({e})")
        if not sep or not name:
            p.error(f"--slice {item!r}: expected NAME=REGEX")
        args.slices[name] = pattern
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return train(args)
    except (data_lib.DataError, runs.RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def train(args) -> int:
    t_start = time.time()
    data_dir, synthetic = prepare_data(args)
    t_data = time.time()  # demo data generation, when there was any, is not part of the scan
    class_names, items, skipped = data_lib.discover(data_dir, args.fractions, args.group_pattern)
    print(f"data: {data_dir} ({'SYNTHETIC demo data' if synthetic else 'your pictures'}): "
          f"{len(class_names)} classes {class_names}; {data_lib.describe(items, class_names)}"
          + (f"; {len(skipped)} files skipped" if skipped else ""))
    if not any(it.split == "train" for it in items):
        raise data_lib.DataError(f"{data_dir}: no pictures fall in the training split; add pictures or change --split")
    t_scanned = time.time()

    from .evaluate import by_slice, by_source, evaluate
    from .export import check_bundles, copy_to_static_site, export_tfjs, folder_bytes
    from .predict import predict_files

    spec, positive = make_spec(args, class_names)
    failures = data_lib.DecodeFailures()
    model, spec, history, fit_stats = train_model(args, spec, items, failures)
    train_seconds = fit_stats["seconds"]
    epochs_run = len(history.get("loss", []))
    best_epoch = fit_stats.get("best_epoch")

    # Evaluate with exactly the prediction procedure the app and the page use (all views, voted).
    t_eval = time.time()
    scored = {}
    for split in ("val", "test"):
        chosen = [it for it in items if it.split == split]
        probs, errors = predict_files(model, spec, [it.path for it in chosen])
        for it, e in zip(chosen, errors):
            if e:
                failures.record(it.path, f"{e}, skipped")
        keep = [i for i, e in enumerate(errors) if e is None]
        scored[split] = ([chosen[i] for i in keep], probs[keep])
    threshold = spec.threshold
    reports = {split: (evaluate([it.label for it in its], p, class_names, positive, threshold, spec.unsure_below)
                       if its else None)
               for split, (its, p) in scored.items()}
    for split, (its, p) in scored.items():
        if its:
            reports[split]["by_source"] = by_source([it.path for it in its], [it.label for it in its], p,
                                                    args.source_pattern)
            if args.slices:
                reports[split]["slices"] = by_slice([it.path for it in its], [it.label for it in its], p,
                                                    class_names, args.slices)
    eval_seconds = time.time() - t_eval

    run_id = args.run_id or f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{args.arch}"
    staging = runs.staging_dir(args.models, run_id)
    try:
        t_export = time.time()
        inference_only(model).save(staging / "model.keras")
        save_spec(spec, staging / SPEC_FILE)
        export_tfjs(model, staging / "tfjs")
        served = "tfjs"
        if args.quantize != "float32":
            served = f"tfjs-{args.quantize}"
            export_tfjs(model, staging / served, quantize=args.quantize)
        export_seconds = time.time() - t_export
        test_items, test_probs = scored["test"]
        tfjs_check = check_bundles(staging, sorted({"tfjs", served}), spec, [it.path for it in test_items],
                                   [it.label for it in test_items], test_probs)
        write_predictions(staging / "predictions.csv", scored, spec)
        skipped_all = skipped + data_lib.unique_failures(failures)
        metrics = {
            "run_id": run_id,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python -m train " + " ".join(shlex.quote(a) for a in args.argv),
            "arch": args.arch,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "class_names": class_names,
            "positive_class": spec.positive_class,
            "threshold": threshold,
            "data": {"root": str(data_dir), "synthetic": synthetic,
                     "counts": data_lib.counts(items, class_names),
                     "skipped_count": len(skipped_all), "skipped": skipped_all,
                     "class_weights": fit_stats.get("class_weights")},
            "validation": reports["val"],
            "test": reports["test"],
            "history": history,
            "epochs_run": epochs_run, "best_epoch": best_epoch,
            "training": {k: v for k, v in fit_stats.items() if k != "seconds"},
            "unsure": fit_stats["unsure"],
            "model": {"params": int(model.count_params()), "served_tfjs": served,
                      "bytes": {"model.keras": folder_bytes(staging / "model.keras"),
                                **{d.name: folder_bytes(d) for d in sorted(staging.glob("tfjs*"))}}},
            "timings": {"demo_data_s": round(t_data - t_start, 2), "scan_s": round(t_scanned - t_data, 2), "train_s": round(train_seconds, 2),
                        "train_views_per_s": fit_stats.get("views_per_s"),
                        "train_images_per_s": fit_stats["images_per_s"],
                        "eval_s": round(eval_seconds, 2), "export_s": round(export_seconds, 2),
                        "total_s": round(time.time() - t_start, 2)},
            "tfjs_check": tfjs_check,
            "versions": versions(),
        }
        runs.write_json(staging / "metrics.json", metrics)
        final = runs.publish(staging, args.models, run_id)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    if str(args.static_site) not in ("", "."):
        copy_to_static_site(final, args.static_site / "model", [SPEC_FILE, "metrics.json"], tfjs_dir=served)
    print_summary(final, metrics)
    return 0


def make_spec(args, class_names) -> tuple[Spec, int | None]:
    """The run's preprocessing spec from the flags and the architecture's view; and the index of the
    positive class (two classes) or None."""
    from .model import ARCHS

    arch = ARCHS[args.arch]
    positive = pick_positive(class_names, args.positive_class)
    input_size = args.image_size or arch["input_size"]
    # Too small to judge: smaller than a crop (crops view), else what the architecture says.
    min_side = input_size if arch["view"] == "crops" else arch.get("min_side", 1)
    spec = Spec(class_names=tuple(class_names), input_size=input_size, view=arch["view"],
                max_side=args.max_side or arch.get("max_side", 512), grid=args.grid, min_side=min_side,
                positive_class=class_names[positive] if positive is not None else None,
                threshold=0.5 if positive is not None else None)
    return spec, positive


def train_model(args, spec: Spec, items, failures, cache: dict | None = None):
    """Fit args.arch on the items' training split, calibrate it on pictures it was not trained on
    (train/calibrate.py) and choose its "unsure" level there. -> (model, spec with its unsure level,
    history {metric: [per epoch]} (empty for lite0), stats). What `python -m train` and the
    benchmarks both run (`cache`: see frozen.embed)."""
    from . import calibrate
    from .predict import predict_files

    if args.arch == "lite0":
        from . import frozen

        model, stats, (cal_probs, cal_labels) = frozen.fit(args, spec, items, failures, cache=cache)
        history = {}
    else:
        model, history, stats = fit(args, spec, items, failures)
        val = [it for it in items if it.split == "val"]
        probs, errors = predict_files(model, spec, [it.path for it in val])
        keep = [i for i, e in enumerate(errors) if e is None]
        cal_labels = np.array([val[i].label for i in keep], dtype=int)
        a, c = calibrate.fit_calibration(np.log(np.clip(probs[keep], 1e-7, 1.0)), cal_labels, len(spec.class_names))
        calibrate.fold_into_last_dense(model, a, c)
        cal_probs, _ = predict_files(model, spec, [val[i].path for i in keep])
        stats["calibration_pictures"] = len(keep)
    stats["unsure"] = calibrate.unsure_level(cal_probs, cal_labels)
    return model, dataclasses.replace(spec, unsure_below=stats["unsure"]["unsure_below"]), history, stats


def fit(args, spec: Spec, items, failures) -> tuple:
    """Build and train args.arch (trained end to end by Keras) on the items' train split (val split for
    early stopping). -> (model with the best weights, history {metric: [per epoch]}, stats)."""
    import keras

    from . import model as model_lib

    keras.utils.set_random_seed(args.seed)
    class_names = spec.class_names
    model = model_lib.build(args.arch, spec.input_size, len(class_names))
    n_train = sum(it.split == "train" for it in items)
    per_image = crops_per_image(args, n_train) if spec.view == "crops" else 1
    # An epoch: every training picture per_image times (crops view); whole view: few pictures are
    # shown up to 4 times an epoch (each time augmented afresh) so that an epoch is not a handful of steps.
    passes = 1 if spec.view == "crops" else int(min(4, max(1, math.ceil(VIEWS_PER_EPOCH / max(n_train, 1)))))
    steps = math.ceil(n_train * per_image * passes / args.batch_size)
    epochs = epochs_for(args, n_train)
    # Cosine decay from the learning rate to 5% of it over all the epochs asked for (early stopping
    # may end sooner, at a lower rate): big steps first, then settling, without a plateau to detect.
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=steps * epochs, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"model: {args.arch} ({model.count_params():,} parameters), view={spec.view}, "
          f"input {spec.input_size}x{spec.input_size}"
          + (f", {spec.grid}x{spec.grid} crops voted" if spec.view == "crops" else ""))
    train_ds = data_lib.training_dataset(items, spec, args.batch_size, args.seed, failures,
                                         crops_per_image=per_image, augment=not args.no_augment)
    val_ds = data_lib.evaluation_dataset(items, "val", spec, args.batch_size * 2, failures)
    monitor = "val_loss" if val_ds is not None else "loss"
    weights = data_lib.class_weights(items, len(class_names))
    if weights:
        print("class weights (imbalanced classes): " + ", ".join(f"{class_names[i]}={w:.2f}" for i, w in weights.items()))
    callbacks = [keras.callbacks.EarlyStopping(monitor=monitor, patience=args.patience, restore_best_weights=True)]
    # The training stream is endless; only the validation pass (unknown length: bad files are filtered
    # out as it goes) ends by running out, which Keras reports with a misleading warning.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    t_fit = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps,
                        class_weight=weights, callbacks=callbacks, shuffle=False,
                        verbose=2 if os.environ.get("CI") else 1)
    seconds = time.time() - t_fit
    h = {k: [float(x) for x in v] for k, v in history.history.items()}
    views_seen = steps * len(h["loss"]) * args.batch_size
    stats = {"seconds": seconds, "best_epoch": int(np.argmin(h[monitor])) + 1, "crops_per_image": per_image,
             "epochs": epochs, "steps_per_epoch": steps,
             "views_per_s": round(views_seen / seconds, 1), "images_per_s": round(views_seen / (per_image * passes) / seconds, 1),
             "class_weights": {class_names[i]: w for i, w in weights.items()} if weights else None}
    return model, h, stats


def prepare_data(args) -> tuple[Path, bool]:
    """The data folder to train on; generates (once) the synthetic demo set when data/ is absent."""
    if args.data.exists() or args.data != DEFAULT_DATA:
        return args.data, False
    from .demo_data import make_demo_dataset

    demo = args.models / "demo-data" / f"seed{args.seed}-n{args.demo_per_class}"
    if not demo.is_dir():
        print(f"no {DEFAULT_DATA}/ folder: generating a SYNTHETIC demo data set (render vs photo, "
              f"{args.demo_per_class} pictures per class) in {demo} ...", flush=True)
        demo.parent.mkdir(parents=True, exist_ok=True)
        summary = make_demo_dataset(demo, n_per_class=args.demo_per_class, seed=args.seed)
        print(f"demo data ready in {summary.get('seconds', 0):.1f} s. These pictures are synthetic: put real "
              f"pictures in {DEFAULT_DATA}/<class>/ to train a useful model.", flush=True)
    return demo, True


def inference_only(model):
    """The same network and weights without the optimizer state (a third of the file size)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def pick_positive(class_names, wanted):
    if len(class_names) != 2:
        if wanted:
            raise data_lib.DataError(f"--positive-class {wanted}: only meaningful with two classes")
        return None
    if wanted is None:
        return 1
    if wanted not in class_names:
        raise data_lib.DataError(f"--positive-class {wanted}: not one of the classes {class_names}")
    return class_names.index(wanted)


def write_predictions(path: Path, scored: dict, spec: Spec) -> None:
    from .preprocess import decide

    names = spec.class_names
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "split", "true_class", "verdict", "predicted_class"] + [f"p_{c}" for c in names])
    for split, (its, probs) in scored.items():
        for it, p in zip(its, probs):
            w.writerow([it.path, split, names[it.label], decide(p, spec), names[int(p.argmax())]]
                       + [f"{x:.6f}" for x in p])
    path.write_text(buf.getvalue())


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "tensorflowjs", "numpy", "pillow", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def print_summary(run_dir: Path, m: dict) -> None:
    t = m["test"]
    print(f"\nrun {m['run_id']} -> {run_dir} (now models/current)")
    if t:
        line = f"test: accuracy {t['accuracy']:.3f}, balanced accuracy {t['balanced_accuracy']:.3f}"
        if t.get("roc_auc") is not None:
            line += f", ROC AUC {t['roc_auc']:.3f}"
        print(line + f" on {t['n']} pictures")
        sure = t["when_sure"]
        if sure["unsure_below"] is not None:
            print(f"when sure (largest probability >= {sure['unsure_below']:.3f}): accuracy {sure['accuracy']:.3f} "
                  f"on {sure['coverage']:.0%} of the test pictures; the rest are answered \"unsure\"")
    b = m["model"]["bytes"]
    print(f"model: {m['model']['params']:,} parameters; " + ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in b.items()))
    print(f"time: {m['timings']['total_s']:.0f} s total, training {m['timings']['train_images_per_s']:.0f} pictures/s")
    if m["data"]["skipped_count"]:
        print(f"skipped {m['data']['skipped_count']} unreadable files (listed in metrics.json)")


if __name__ == "__main__":
    sys.exit(main())
