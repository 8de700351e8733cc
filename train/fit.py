"""Fitting either recipe, calibrated, with its "unsure" level: what `python -m train` and the benchmarks
train. lite0: the frozen backbone's features and a fitted head (lite0_head.py); the others: the Keras
fit (keras_fit.py), then calibrated on the validation pictures (calibrate.py)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from . import calibrate
from .config import EngineOptions, TrainConfig
from .predict import predict_files
from .preprocess import Spec
from .runs import FEATURES_FILE

FEATURE_CHUNKS = "feature-chunks"  # in a run folder: the engine's landed chunks (features.embed_job)


def train_model(config: TrainConfig, spec: Spec, items, failures, cache: dict | None = None,
                staging: Path | None = None, init: Path | None = None, given: dict | None = None,
                engine=None, chunk: int = EngineOptions.chunk):
    """Fit config.arch on the items' training split, calibrate it on pictures it was not trained on
    (calibrate.py) and choose its "unsure" level there. -> (model, spec with its unsure level,
    history {metric: [per epoch]} (empty for lite0), stats). What `python -m train` and the
    benchmarks both run. `cache`: see lite0_head.embed. `staging`: the run folder, where lite0 keeps its
    features and the Keras-trained archs their weights after every epoch (reused when resumed). `init`:
    an earlier run to start from (--init-from). lite0 with `staging`: the clean pictures' features are
    computed first, as a job of `chunk` pictures a chunk landing in the run folder (so --resume keeps
    its chunks), on `engine` (cluster.Engine) or in this process."""
    if config.arch == "lite0":
        from . import lite0_head

        if cache is None:
            cache = {}
            cache.update(given or {})  # --features files (computed on other machines)
            for source in (init, staging):  # an earlier run's features, then this run's own (resume)
                if source is not None:
                    cache.update(lite0_head.load_cache(source / FEATURES_FILE))
        engine_stats = None
        if staging is not None:
            # A run's clean-picture features are a job of chunks landing in its folder as they are done
            # (on the engine, or here one chunk after the other), so an interrupt, a kill or a reboot
            # loses at most one chunk: --resume embeds only what no chunk holds.
            from . import features

            wanted = [it for it in items if it.split in ("train", "val")]
            keys = [lite0_head.feature_key(it.path, spec) for it in wanted]
            t0, landed = time.time(), []  # this job's chunks only (a resumed run finds earlier ones)
            cache.update(features.embed_job(wanted, spec, staging / FEATURE_CHUNKS, failures, engine, chunk=chunk,
                                            known=cache, on_landed=landed.append))
            seconds = time.time() - t0
            embedded = sum(len(features.chunk_keys(f)) for f in landed)
            engine_stats = {"where": engine.where() if engine else "this process", "chunk": chunk,
                            "seconds": round(seconds, 2), "pictures": embedded,
                            "reused": sum(k in cache for k in keys) - embedded,
                            "pictures_per_s": round(embedded / seconds, 1) if embedded and seconds > 0 else None}
        model, stats, (cal_probs, cal_labels) = lite0_head.fit(
            config, spec, items, failures, cache=cache,
            save_cache=(lambda c: lite0_head.save_cache(c, staging / FEATURES_FILE)) if staging else None)
        history = {}
        if engine_stats:  # the features were the job's: its time is training time, its rate the rate
            stats["engine"] = engine_stats
            stats["seconds"] += engine_stats["seconds"]
            stats["embed_s"] = round(stats["embed_s"] + engine_stats["seconds"], 2)
            stats["images_per_s"] = stats["images_per_s"] or engine_stats["pictures_per_s"]
            stats["features_reused"] = engine_stats["reused"]  # not the job's own, which fit() found to hand
    else:
        from .keras_fit import fit
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
