"""What a run measured: its val and test pictures scored with the prediction procedure the app and the
page use (all views, voted), metrics.json assembled, predictions.csv written, and the summary printed."""
from __future__ import annotations

import csv
import platform
import shlex
from datetime import datetime, timezone
from pathlib import Path

from . import data as data_lib
from . import files
from .csvfile import open_csv
from .evaluate import by_slice, by_source, evaluate
from .predict import predict_files
from .preprocess import Spec, decide


def score_splits(model, spec: Spec, items, failures, config, positive: int | None) -> tuple[dict, dict]:
    """-> ({split: (items scored, probabilities)}, {split: its report, or None when it has no pictures})
    for "val" and "test"; unreadable pictures are recorded in `failures` and skipped."""
    class_names = list(spec.class_names)
    scored = {}
    for split in ("val", "test"):
        chosen = [it for it in items if it.split == split]
        probs, errors = predict_files(model, spec, [it.path for it in chosen])
        for it, e in zip(chosen, errors):
            if e:
                failures.record(it.path, f"{e}, skipped")
        keep = [i for i, e in enumerate(errors) if e is None]
        scored[split] = ([chosen[i] for i in keep], probs[keep])
    reports = {split: (evaluate([it.label for it in its], p, class_names, positive, spec.threshold, spec.unsure_below)
                       if its else None)
               for split, (its, p) in scored.items()}
    for split, (its, p) in scored.items():
        if its:
            reports[split]["by_source"] = by_source([it.path for it in its], [it.label for it in its], p,
                                                    config.source_pattern)
            if config.slices:
                reports[split]["slices"] = by_slice([it.path for it in its], [it.label for it in its], p,
                                                    class_names, config.slices)
    return scored, reports


def metrics_of(run_id: str, args, spec: Spec, data_dir: Path, synthetic: bool, items, skipped: list, reports: dict,
               history: dict, fit_stats: dict, params: int, keras_bytes: int, timings: dict) -> dict:
    """metrics.json before the export adds its part: what was asked (the command, the config), on what
    data, the scores per split, the training and its timings, and the versions."""
    config = args.config
    return {
        "run_id": run_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m train " + " ".join(shlex.quote(a) for a in args.argv),
        "arch": config.arch,
        "config": {**config.to_json(), "data": str(args.data), "models": str(args.models)},
        "class_names": list(spec.class_names),
        "positive_class": spec.positive_class,
        "threshold": spec.threshold,
        "data": {"root": str(data_dir), "synthetic": synthetic,
                 "counts": data_lib.counts(items, list(spec.class_names)),
                 "skipped_count": len(skipped), "skipped": skipped,
                 "in_two_classes": data_lib.cross_class_duplicates(items),
                 "class_weights": fit_stats.get("class_weights")},
        "val": reports["val"],
        "test": reports["test"],
        "history": history,
        "epochs_run": len(history.get("loss", [])), "best_epoch": fit_stats.get("best_epoch"),
        "training": {k: v for k, v in fit_stats.items() if k != "seconds"},
        "unsure": fit_stats["unsure"],
        "model": {"params": params, "bytes": {"model.keras": keras_bytes}},
        "timings": {**timings, "train_s": round(fit_stats["seconds"], 2),
                    "train_views_per_s": fit_stats.get("views_per_s"),
                    "train_images_per_s": fit_stats["images_per_s"]},
        "versions": versions(),
    }


def write_predictions(path: Path, scored: dict, spec: Spec) -> None:
    """predictions.csv: every scored picture's split, true class, verdict and probabilities."""
    names = spec.class_names
    with files.replacing(path) as tmp, open_csv(tmp, "w") as f:
        w = csv.writer(f)
        w.writerow(["path", "split", "true_class", "verdict", "predicted_class"] + [f"p_{c}" for c in names])
        for split, (its, probs) in scored.items():
            for it, p in zip(its, probs):
                w.writerow([it.path, split, names[it.label], decide(p, spec), names[int(p.argmax())]]
                           + [f"{x:.6f}" for x in p])


def versions() -> dict:
    """The versions of what trained the run."""
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
    """The run in a few lines on stdout: test scores, "when sure", sizes, where the time went."""
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
    served = m["model"].get("served_tfjs")
    print(f"model: {m['model']['params']:,} parameters; " + ", ".join(
        f"{k} {files.size_text(v)}" + (" (what the page loads)" if k == served else "") for k, v in b.items()))
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
