"""The Keras fit: tracenet and rendernet2017 trained end to end (lite0's head is fitted apart, in
lite0_head.py). The data streams come from data.py, the networks from model.py, the epochs and crops
per picture from config.py; the weights are saved in the run folder after every epoch (resume)."""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

from . import data as data_lib
from .config import VIEWS_PER_EPOCH, TrainConfig, crops_per_image, epochs_for
from .preprocess import Spec
from .runs import CHECKPOINT_FILE, load_run_model


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
        model.set_weights(load_run_model(init)[1].get_weights())  # crops view: the crop network's
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
