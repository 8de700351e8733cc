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
import shutil
import sys
import time
import warnings

import numpy as np
from datetime import datetime, timezone
from pathlib import Path


from . import data as data_lib  # noqa: E402
from . import runs  # noqa: E402
from .config import TrainConfig  # noqa: E402
from .evaluate import SOURCE_PATTERN  # noqa: E402
from .preprocess import SPEC_FILE, Spec, save_spec  # noqa: E402

DEFAULT_DATA = Path("data")
VIEWS_PER_EPOCH = 4096  # crops view, --crops-per-image not given: crops per picture = this / pictures


def crops_per_image(config: TrainConfig, n_train: int) -> int:
    """Random crops per training picture per epoch: as asked, else enough for about VIEWS_PER_EPOCH
    crops an epoch (few pictures: many crops each, since decoding is the cost and crops are cheap)."""
    if config.crops_per_image:
        return config.crops_per_image
    return int(min(32, max(2, math.ceil(VIEWS_PER_EPOCH / max(n_train, 1)))))


def epochs_for(config: TrainConfig, n_train: int) -> int:
    """Most epochs: as asked, else 16 for a small training set (its pictures come round often, with
    fresh crops and augmentation each time) and 8 for a large one (each epoch already varied)."""
    if config.epochs:
        return config.epochs
    return 16 if n_train < 1000 else 8


def parse_args(argv=None) -> argparse.Namespace:
    """The command line -> its options; `.config` is the TrainConfig they ask for (the rest says where
    the data and models are and what to do with the run)."""
    from .export import QUANTIZATIONS
    from .model import ARCHS

    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with one sub-folder of pictures per class (default: data/; when data/ "
                        "does not exist a synthetic demo set is generated)")
    p.add_argument("--models", type=Path, default=Path("models"),
                   help="models folder (default: models/), the same option as train.predict, train.publish, "
                        "train.runs and the app: runs go to MODELS/runs/<run-id>, MODELS/current is the current one")
    p.add_argument("--out", dest="models", type=Path, help=argparse.SUPPRESS)  # its former name, still accepted
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
    p.add_argument("--source-pattern", default=SOURCE_PATTERN,
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
    p.add_argument("--static-site", type=Path, default=None,
                   help="static site whose model/ follows the current run ('' for none; default: static_site/ "
                        "when the models folder is models/, none otherwise)")
    p.add_argument("--demo", action="store_true",
                   help="train on the synthetic demo data set (generated once). Without data/ and without any "
                        "run on real pictures, the demo runs anyway; once one exists, only when asked")
    p.add_argument("--force", action="store_true",
                   help="make the new run current even if it does worse than the current one on the pictures "
                        "both scored, or is a demo run replacing a run on real pictures")
    p.add_argument("--resume", metavar="RUN", default=None,
                   help="continue a failed run (same arguments; saved weights or features are reused)")
    p.add_argument("--init-from", metavar="RUN", default=None,
                   help="start from an earlier run ('current' or a run id): lite0 reuses its picture features "
                        "(only new or changed pictures are computed), the Keras-trained archs its weights")
    p.add_argument("--features", nargs="+", type=Path, default=[], metavar="FILE",
                   help="lite0: picture features computed beforehand, e.g. on N machines by `python -m train.features "
                        "--shard I/N` (pictures found there are not embedded again)")
    p.add_argument("--demo-per-class", type=int, default=1000, help="demo data: pictures per class")
    p.add_argument("--run-id", default=None, help="name of the run folder (default: time stamp + arch)")
    args = p.parse_args(argv)
    if args.run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", args.run_id):
        p.error(f"--run-id {args.run_id!r}: letters, digits, '.', '_' and '-' only")
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the report's command line
    try:
        parts = [float(x) for x in args.split.split("/")]
        assert len(parts) == 3 and all(x >= 0 for x in parts) and parts[0] > 0 and sum(parts) > 0
    except (ValueError, AssertionError):
        p.error(f"--split {args.split!r}: expected three percentages like 80/10/10")
    args.fractions = tuple(x / sum(parts) for x in parts)
    for name in ("epochs", "batch_size", "grid", "crops_per_image", "demo_per_class", "max_side"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.copies < 0:
        p.error("--copies must be 0 or more")
    if args.features and args.arch != "lite0":
        p.error("--features: only the lite0 recipe trains on precomputed features")
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
    args.config = TrainConfig(
        arch=args.arch, epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
        image_size=args.image_size, grid=args.grid, max_side=args.max_side, copies=args.copies,
        crops_per_image=args.crops_per_image, learning_rate=args.learning_rate, seed=args.seed,
        fractions=args.fractions, group_pattern=args.group_pattern, source_pattern=args.source_pattern,
        slices=args.slices, positive_class=args.positive_class, quantize=args.quantize,
        augment=not args.no_augment).resolved()
    return args


def config_from_argv(argv) -> TrainConfig:
    """The TrainConfig of `python -m train ARGV` (benchmark variants are written as command-line flags)."""
    return parse_args(list(argv)).config


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.resume:
            return resume(args)
        return train(args)
    except (data_lib.DataError, runs.RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def resume(args) -> int:
    """--resume RUN: the failed run's own arguments again, into its own folder (weights or features
    it saved are reused)."""
    folder = args.models / "runs" / args.resume
    try:
        saved = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError) as e:
        raise runs.RunError(f"{folder / CONFIG_FILE}: cannot read the run's arguments ({e})") from None
    again = parse_args(saved["argv"] + ["--run-id", args.resume, "--models", str(args.models)])
    again.argv = saved["argv"]
    again.force = again.force or args.force
    staging = runs.reopen(args.models, args.resume)
    print(f"resuming {args.resume} ({runs.read_failed(staging) or {}}) ...".replace("{}", "").strip(), flush=True)
    return train(again, staging=staging)


CONFIG_FILE = "config.json"  # the arguments a run was started with (for --resume)
FEATURES_FILE = "features.npz"  # lite0: the picture features (for --resume and --init-from)
CHECKPOINT_FILE = "checkpoint.weights.h5"  # Keras-trained archs: the weights after the last epoch


def train(args, staging: Path | None = None) -> int:
    """Train, evaluate, export; then the run becomes current if it passes the quality gate (runs.py).
    Whatever stops it after the data is read leaves the run folder as a *failed* run, with what it
    had done (weights, features, log) and failed.json saying why."""
    t_start = time.time()
    data_dir, synthetic = prepare_data(args)
    t_data = time.time()  # demo data generation, when there was any, is not part of the scan
    config = args.config
    class_names, items, skipped = data_lib.discover(data_dir, config.fractions, config.group_pattern)
    print(f"data: {data_dir} ({'SYNTHETIC demo data' if synthetic else 'your pictures'}): "
          f"{len(class_names)} classes {class_names}; {data_lib.describe(items, class_names)}"
          + (f"; {len(skipped)} files skipped" if skipped else ""))
    if not any(it.split == "train" for it in items):
        raise data_lib.DataError(f"{data_dir}: no pictures fall in the training split; add pictures or change --split")
    spec, positive = make_spec(config, class_names)
    init = resolve_init(args, spec)
    given = given_features(args.features)
    t_scanned = time.time()

    run_id = args.run_id or f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{config.arch}"
    staging = staging or runs.staging_dir(args.models, run_id)
    runs.write_json(staging / CONFIG_FILE, {"argv": args.argv, "started": datetime.now(timezone.utc).isoformat()})
    try:
        with Tee(staging / "train.log"):
            final, metrics = run_stages(args, staging, run_id, spec, positive, items, skipped, data_dir, synthetic,
                                        init, (t_start, t_data, t_scanned), lambda name: set_stage(name), given)
    except KeyboardInterrupt:
        failed = runs.mark_failed(staging, args.models, run_id, STAGE[0], "interrupted (Ctrl-C)")
        print(f"\ninterrupted during {STAGE[0]}: run kept as failed in {failed}; continue it with "
              f"`python -m train --resume {run_id}`", file=sys.stderr)
        return 130
    except (data_lib.DataError, runs.RunError) as e:
        runs.mark_failed(staging, args.models, run_id, STAGE[0], str(e))
        raise
    except Exception as e:  # anything else: keep the run and the traceback, say it in one line
        import traceback

        (staging / "error.log").write_text(traceback.format_exc())
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        failed = runs.mark_failed(staging, args.models, run_id, STAGE[0], reason)
        hint = (f"finish it with `python -m train.export {run_id}`" if STAGE[0] == "export"
                else f"continue it with `python -m train --resume {run_id}`")
        print(f"error: run {run_id} failed during {STAGE[0]}: {reason} (details in {failed / 'error.log'}); "
              f"{hint}", file=sys.stderr)
        return 1
    print_summary(final, metrics)
    conclude(args.models, final, runs.site_for(args.models, args.static_site), args.force)
    return 0


STAGE = ["training"]  # where the run is, for the failure message


def set_stage(name: str) -> None:
    STAGE[0] = name


def run_stages(args, staging, run_id, spec, positive, items, skipped, data_dir, synthetic, init, times, stage,
               given: dict | None = None):
    """The work of one run, in its staging folder; -> (finished run folder, metrics)."""
    from .evaluate import by_slice, by_source, evaluate
    from .export import export_run, folder_bytes
    from .predict import predict_files

    t_start, t_data, t_scanned = times
    config = args.config
    class_names = list(spec.class_names)
    stage("training")
    failures = data_lib.DecodeFailures()
    model, spec, history, fit_stats = train_model(config, spec, items, failures, staging=staging, init=init,
                                                  given=given)
    train_seconds = fit_stats["seconds"]
    # The trained model is kept before anything else can fail.
    stage("evaluation")
    inference_only(model).save(staging / "model.keras")
    save_spec(spec, staging / SPEC_FILE)

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
                                                    config.source_pattern)
            if config.slices:
                reports[split]["slices"] = by_slice([it.path for it in its], [it.label for it in its], p,
                                                    class_names, config.slices)
    eval_seconds = time.time() - t_eval
    write_predictions(staging / "predictions.csv", scored, spec)
    skipped_all = skipped + data_lib.unique_failures(failures)
    metrics = {
        "run_id": run_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m train " + " ".join(shlex.quote(a) for a in args.argv),
        "arch": config.arch,
        "config": {**config.to_json(), "data": str(args.data), "models": str(args.models)},
        "class_names": class_names,
        "positive_class": spec.positive_class,
        "threshold": threshold,
        "data": {"root": str(data_dir), "synthetic": synthetic,
                 "counts": data_lib.counts(items, class_names),
                 "skipped_count": len(skipped_all), "skipped": skipped_all,
                 "class_weights": fit_stats.get("class_weights")},
        "val": reports["val"],
        "test": reports["test"],
        "history": history,
        "epochs_run": len(history.get("loss", [])), "best_epoch": fit_stats.get("best_epoch"),
        "training": {k: v for k, v in fit_stats.items() if k != "seconds"},
        "unsure": fit_stats["unsure"],
        "model": {"params": int(model.count_params()), "bytes": {"model.keras": folder_bytes(staging / "model.keras")}},
        "timings": {"demo_data_s": round(t_data - t_start, 2), "scan_s": round(t_scanned - t_data, 2),
                    "train_s": round(train_seconds, 2),
                    "train_views_per_s": fit_stats.get("views_per_s"),
                    "train_images_per_s": fit_stats["images_per_s"],
                    "eval_s": round(eval_seconds, 2)},
        "versions": versions(),
    }
    runs.write_json(staging / "metrics.json", metrics)
    stage("export")
    metrics = export_run(staging, model, spec, config.quantize)
    metrics["timings"]["total_s"] = round(time.time() - t_start, 2)
    runs.write_json(staging / "metrics.json", metrics)
    return runs.finish(staging, args.models, run_id), metrics


def conclude(models: Path, final: Path, site: Path | None, force: bool) -> None:
    """The quality gate: the finished run becomes current (and the page's model), or stays a candidate."""
    ok, why = (True, "--force") if force else runs.gate(models, final)
    if ok:
        runs.promote(models, final.name, site, why=why)
        print(f"{final.name} is now current ({why})" + (f"; {site / 'model'} refreshed" if site else ""))
    else:
        print(f"{final.name} kept as a candidate, not current: {why}. "
              f"Make it current with `python -m train.runs promote {final.name}`")


class Tee:
    """Everything printed while training also goes to the run's log file."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.file = open(self.path, "a", buffering=1)
        self.saved = sys.stdout
        outer = self

        class Both:
            def write(self, text):
                outer.file.write(text)
                return outer.saved.write(text)

            def flush(self):
                outer.file.flush()
                outer.saved.flush()

            def __getattr__(self, name):
                return getattr(outer.saved, name)

        sys.stdout = Both()
        return self

    def __exit__(self, *exc):
        sys.stdout = self.saved
        self.file.close()
        return False


def given_features(files) -> dict:
    """The --features files read (train.features writes them); one line naming a file that is not one."""
    from .frozen import load_cache

    out: dict = {}
    for f in files:
        out.update(load_cache(f, strict=True))
    return out


def resolve_init(args, spec: Spec) -> Path | None:
    """--init-from: the earlier run folder to start from, checked usable with this spec; or None."""
    if not args.init_from:
        return None
    run = runs.resolve(args.models, None if args.init_from == "current" else args.init_from)
    m = runs.load_metrics(run)
    arch = args.config.arch
    if m.get("arch") != arch:
        raise data_lib.DataError(f"--init-from {args.init_from}: that run is {m.get('arch')}, not {arch}")
    if arch != "lite0" and m.get("class_names") != list(spec.class_names):
        raise data_lib.DataError(f"--init-from {args.init_from}: its classes {m.get('class_names')} differ from "
                                 f"{list(spec.class_names)}")
    return run


def make_spec(config: TrainConfig, class_names) -> tuple[Spec, int | None]:
    """The run's preprocessing spec from the config and the architecture's view; and the index of the
    positive class (two classes) or None."""
    from .model import ARCHS

    config = config.resolved()
    arch = ARCHS[config.arch]
    positive = pick_positive(class_names, config.positive_class)
    input_size = config.image_size
    # Too small to judge: smaller than a crop (crops view), else what the architecture says.
    min_side = input_size if arch["view"] == "crops" else arch.get("min_side", 1)
    spec = Spec(class_names=tuple(class_names), input_size=input_size, view=arch["view"],
                max_side=config.max_side, grid=config.grid, min_side=min_side,
                positive_class=class_names[positive] if positive is not None else None,
                threshold=0.5 if positive is not None else None)
    return spec, positive


def train_model(config: TrainConfig, spec: Spec, items, failures, cache: dict | None = None,
                staging: Path | None = None, init: Path | None = None, given: dict | None = None):
    """Fit config.arch on the items' training split, calibrate it on pictures it was not trained on
    (train/calibrate.py) and choose its "unsure" level there. -> (model, spec with its unsure level,
    history {metric: [per epoch]} (empty for lite0), stats). What `python -m train` and the
    benchmarks both run. `cache`: see frozen.embed. `staging`: the run folder, where lite0 keeps its
    features and the Keras-trained archs their weights after every epoch (reused when resumed). `init`:
    an earlier run to start from (--init-from)."""
    from . import calibrate
    from .predict import predict_files

    if config.arch == "lite0":
        from . import frozen

        if cache is None:
            cache = {}
            cache.update(given or {})  # --features files (computed on other machines)
            for source in (init, staging):  # an earlier run's features, then this run's own (resume)
                if source is not None:
                    cache.update(frozen.load_cache(source / FEATURES_FILE))
        model, stats, (cal_probs, cal_labels) = frozen.fit(
            config, spec, items, failures, cache=cache,
            save_cache=(lambda c: frozen.save_cache(c, staging / FEATURES_FILE)) if staging else None)
        history = {}
    else:
        from .model import picture_model

        crop_model, history, stats = fit(config, spec, items, failures, staging=staging, init=init)
        model = picture_model(crop_model, spec)
        val = [it for it in items if it.split == "val"]
        probs, errors = predict_files(model, spec, [it.path for it in val])
        keep = [i for i, e in enumerate(errors) if e is None]
        cal_labels = np.array([val[i].label for i in keep], dtype=int)
        a, c = calibrate.fit_calibration(np.log(np.clip(probs[keep], 1e-7, 1.0)), cal_labels, len(spec.class_names))
        calibrate.fold_into_last_dense(crop_model, a, c)
        cal_probs, _ = predict_files(model, spec, [val[i].path for i in keep])
        stats["calibration_pictures"] = len(keep)
    stats["unsure"] = calibrate.unsure_level(cal_probs, cal_labels)
    return model, dataclasses.replace(spec, unsure_below=stats["unsure"]["unsure_below"]), history, stats


def fit(config: TrainConfig, spec: Spec, items, failures, staging: Path | None = None,
        init: Path | None = None) -> tuple:
    """Build and train config.arch (trained end to end by Keras) on the items' train split (val split for
    early stopping). -> (model with the best weights, history {metric: [per epoch]}, stats); crops view:
    the network on single crops, which model.picture_model wraps for whole pictures. With a
    staging folder the weights are saved there after every epoch, and taken up again on resume; with
    `init`, training starts from that run's weights."""
    import keras

    from . import model as model_lib

    keras.utils.set_random_seed(config.seed)
    class_names = spec.class_names
    model = model_lib.build(config.arch, spec.input_size, len(class_names))
    initial_epoch = 0
    checkpoint = staging / CHECKPOINT_FILE if staging else None
    if checkpoint is not None and checkpoint.is_file():
        model.load_weights(checkpoint)
        initial_epoch = int(json.loads((staging / "checkpoint.json").read_text())["epochs_done"])
        print(f"resumed from the weights after epoch {initial_epoch}")
    elif init is not None:
        model.set_weights(runs.load_run_model(init)[1].get_weights())  # crops view: the crop network's
        print(f"starting from the weights of {init.name}")
    n_train = sum(it.split == "train" for it in items)
    per_image = crops_per_image(config, n_train) if spec.view == "crops" else 1
    # An epoch: every training picture per_image times (crops view); whole view: few pictures are
    # shown up to 4 times an epoch (each time augmented afresh) so that an epoch is not a handful of steps.
    passes = 1 if spec.view == "crops" else int(min(4, max(1, math.ceil(VIEWS_PER_EPOCH / max(n_train, 1)))))
    steps = math.ceil(n_train * per_image * passes / config.batch_size)
    epochs = epochs_for(config, n_train)
    # Cosine decay from the learning rate to 5% of it over all the epochs asked for (early stopping
    # may end sooner, at a lower rate): big steps first, then settling, without a plateau to detect.
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps * epochs, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"model: {config.arch} ({model.count_params():,} parameters), view={spec.view}, "
          f"input {spec.input_size}x{spec.input_size}"
          + (f", {spec.grid}x{spec.grid} crops voted" if spec.view == "crops" else ""))
    train_ds = data_lib.training_dataset(items, spec, config.batch_size, config.seed, failures,
                                         crops_per_image=per_image, augment=config.augment)
    val_ds = data_lib.evaluation_dataset(items, "val", spec, config.batch_size * 2, failures)
    monitor = "val_loss" if val_ds is not None else "loss"
    weights = data_lib.class_weights(items, len(class_names))
    if weights:
        print("class weights (imbalanced classes): " + ", ".join(f"{class_names[i]}={w:.2f}" for i, w in weights.items()))
    callbacks = [keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True)]
    if checkpoint is not None:
        callbacks.append(model_lib.EpochCheckpoint(checkpoint, staging / "checkpoint.json", initial_epoch))
    # The training stream is endless; only the validation pass (unknown length: bad files are filtered
    # out as it goes) ends by running out, which Keras reports with a misleading warning.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    t_fit = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=max(epochs, initial_epoch + 1),
                        initial_epoch=initial_epoch, steps_per_epoch=steps,
                        class_weight=weights, callbacks=callbacks, shuffle=False,
                        verbose=2 if os.environ.get("CI") else 1)
    seconds = time.time() - t_fit
    h = {k: [float(x) for x in v] for k, v in history.history.items()}
    views_seen = steps * len(h["loss"]) * config.batch_size
    stats = {"seconds": seconds, "best_epoch": int(np.argmin(h[monitor])) + 1, "crops_per_image": per_image,
             "epochs": epochs, "steps_per_epoch": steps,
             "views_per_s": round(views_seen / seconds, 1), "images_per_s": round(views_seen / (per_image * passes) / seconds, 1),
             "class_weights": {class_names[i]: w for i, w in weights.items()} if weights else None}
    return model, h, stats


def prepare_data(args) -> tuple[Path, bool]:
    """The data folder to train on, and whether it is the synthetic demo set (generated once). The demo
    runs when asked (--demo), or when there is no data/ and no run on real pictures yet; once one
    exists, a missing data/ is an error (a wrong directory or an unmounted volume must not quietly
    train a demo)."""
    if not args.demo:
        if args.data.exists() or args.data != DEFAULT_DATA:
            return args.data, False
        real = [r.name for r in runs.list_runs(args.models)[0] if not runs.is_demo(r)]
        if real:
            raise data_lib.DataError(f"{args.data}: data folder not found, and {args.models} holds runs trained on "
                                     f"real pictures ({real[0]}...): give --data DIR, or --demo for the synthetic demo")
    from .demo_data import make_demo_dataset

    seed = args.config.seed
    demo = args.models / "demo-data" / f"seed{seed}-n{args.demo_per_class}"
    if not demo.is_dir():
        print(f"{'--demo' if args.demo else f'no {DEFAULT_DATA}/ folder'}: generating a SYNTHETIC demo data set "
              f"(render vs photo, {args.demo_per_class} pictures per class) in {demo} ...", flush=True)
        demo.parent.mkdir(parents=True, exist_ok=True)
        tmp = demo.with_name(f".{demo.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        summary = make_demo_dataset(tmp, n_per_class=args.demo_per_class, seed=seed)
        tmp.rename(demo)  # complete or absent: an interrupted generation is started again
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
    # TensorFlow is installed as tensorflow-cpu (requirements.txt); either distribution counts.
    for pkg, dists in (("tensorflow", ("tensorflow", "tensorflow-cpu")), ("keras", ("keras",)),
                       ("tensorflowjs", ("tensorflowjs",)), ("numpy", ("numpy",)), ("pillow", ("pillow",)),
                       ("scikit-learn", ("scikit-learn",))):
        out[pkg] = None
        for dist in dists:
            try:
                out[pkg] = version(dist)
                break
            except PackageNotFoundError:
                continue
    return out


def print_summary(run_dir: Path, m: dict) -> None:
    t = m["test"]
    print(f"\nrun {m['run_id']} -> {run_dir}")
    if t:
        line = f"test: accuracy {t['accuracy']:.3f}, balanced accuracy {t['balanced_accuracy']:.3f}"
        if t.get("roc_auc") is not None:
            line += f", ROC AUC {t['roc_auc']:.3f}"
        print(line + f" on {t['n']} pictures")
        sure = t.get("when_sure") or {}
        if sure.get("unsure_below") is not None and sure.get("accuracy") is not None:
            print(f"when sure (largest probability >= {sure['unsure_below']:.3f}): accuracy {sure['accuracy']:.3f} "
                  f"on {sure['coverage']:.0%} of the test pictures; the rest are answered \"unsure\"")
        elif sure.get("unsure_below") is not None:
            print(f"unsure on every test picture (the model answers only at probability >= {sure['unsure_below']:.3f})")
    b = m["model"]["bytes"]
    print(f"model: {m['model']['params']:,} parameters; " + ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in b.items()))
    times = m["timings"]
    phases = {"demo data": times.get("demo_data_s"), "scanning": times.get("scan_s"), "training": times.get("train_s"),
              "evaluation": times.get("eval_s"), "export": times.get("export_s")}
    phases = {k: v for k, v in phases.items() if v}
    rest = times["total_s"] - sum(phases.values())  # start-up, building the model, calibration, writing
    speed = times["train_images_per_s"]
    print(f"time: {times['total_s']:.0f} s total (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
          + f", the rest {rest:.0f} s)" + (f"; training {speed:.0f} pictures/s" if speed else ""))
    if m["data"]["skipped_count"]:
        print(f"skipped {m['data']['skipped_count']} unreadable files (listed in metrics.json)")


if __name__ == "__main__":
    sys.exit(main())
