"""One run of `python -m train`, stage by stage: the data (the demo set generated when there is none),
the run's spec, then inside the run context (runs.started) training (fit.py), evaluation (report.py)
and export (export.py), and last the quality gate (runs.conclude). `main` is the command itself.

Whatever stops a run after the data is read leaves its folder as a *failed* run, with what it had done
(weights, features, log) and failed.json saying why: `--resume RUN` continues it.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import data as data_lib
from . import cluster, files, report, runs
from .config import DEFAULT_DATA, make_spec, parse_args
from .errors import InputError, command
from .preprocess import SPEC_FILE, Spec, save_spec


@command
def main(argv=None) -> int:
    """python -m train ARGV -> exit status (2: bad input, said in one line; 1: the run failed; 130: Ctrl-C)."""
    args = parse_args(argv)
    return resume(args) if args.resume else train(args)


@dataclasses.dataclass
class Inputs:
    """What a run trains on, once its data is read."""
    data_dir: Path
    synthetic: bool  # the generated demo set
    items: list  # data.Item, each with its split
    skipped: list  # files found but not usable
    spec: Spec
    positive: int | None  # two classes: the positive class's index
    init: Path | None  # --init-from: the earlier run
    given: dict  # --features: picture features computed beforehand
    timings: dict  # demo_data_s, scan_s


def resume(args) -> int:
    """--resume RUN: the failed run's own arguments again, into its own folder (weights or features
    it saved are reused)."""
    failed = runs.resumable(args.models, args.resume)
    folder = args.models / "runs" / args.resume
    try:
        saved = json.loads((folder / runs.CONFIG_FILE).read_text())
    except (OSError, ValueError) as e:
        raise runs.RunError(f"{folder / runs.CONFIG_FILE}: cannot read the run's arguments ({e})") from None
    again = parse_args(saved["argv"] + ["--run-id", args.resume, "--models", str(args.models)])
    again.argv = saved["argv"]
    again.force = again.force or args.force
    print(f"resuming {args.resume} (stopped during {failed.get('stage')}: {failed.get('reason')}) ...", flush=True)
    return train(again, resume=True)


def train(args, resume: bool = False) -> int:
    """Read the data, then train, evaluate and export in the run's folder; then the run becomes current if
    it passes the quality gate (runs.py). `resume`: continue the failed run args.run_id in its folder."""
    t_start = time.time()
    inputs = read_inputs(args)
    # Two runs started in the same second get distinct ids (runs.new_staging adds -2, -3, ...).
    run_id = args.run_id or f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{args.config.arch}"
    run = None
    try:
        with runs.started(args.models, run_id, exact=args.run_id is not None, resume=resume) as run, \
                Tee(run.folder / "train.log"):
            files.write_json(run.folder / runs.CONFIG_FILE,
                             {"argv": args.argv, "started": datetime.now(timezone.utc).isoformat()})
            metrics = run_stages(args, run, inputs)
            metrics["timings"]["total_s"] = round(time.time() - t_start, 2)
            files.write_json(run.folder / "metrics.json", metrics)
            final = run.finish()
    except InputError:
        raise
    except KeyboardInterrupt:
        if run is None or run.failed is None:
            raise
        print(f"\ninterrupted during {run.stage}: run kept as interrupted in {run.failed}; continue it with "
              f"`python -m train --resume {run.run_id}`", file=sys.stderr)
        return 130
    except Exception:
        if run is None or run.failed is None:
            raise
        hint = (f"finish it with `python -m train.export {run.run_id}`" if run.stage == "export"
                else f"continue it with `python -m train --resume {run.run_id}`")
        details = f" (details in {run.failed / runs.ERROR_LOG})" if (run.failed / runs.ERROR_LOG).is_file() else ""
        print(f"error: run {run.run_id} failed during {run.stage}: {run.reason}{details}; {hint}", file=sys.stderr)
        return 1
    report.print_summary(final, metrics)
    runs.conclude(args.models, final, runs.site_for(args.models, args.static_site), args.force)
    return 0


def read_inputs(args) -> Inputs:
    """The data found and split, the spec, --init-from and --features checked: every bad input is said
    here, before a run folder exists."""
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
    timings = {"demo_data_s": round(t_data - t_start, 2), "scan_s": round(time.time() - t_data, 2)}
    return Inputs(data_dir, synthetic, items, skipped, spec, positive, init, given, timings)


def run_stages(args, run: runs.ActiveRun, inputs: Inputs) -> dict:
    """Training, evaluation and export in the run's folder (run.stage says which); -> metrics.json's content."""
    from .export import export_run
    from .fit import train_model

    config = args.config
    run.stage = "training"
    failures = data_lib.DecodeFailures()
    engine = cluster.engine_of(args.cluster, args.workers, args.chunk)
    model, spec, history, fit_stats = train_model(config, inputs.spec, inputs.items, failures, staging=run.folder,
                                                  init=inputs.init, given=inputs.given, engine=engine,
                                                  chunk=args.chunk)
    # The trained model is kept before anything else can fail.
    run.stage = "evaluation"
    inference_only(model).save(run.folder / "model.keras")
    save_spec(spec, run.folder / SPEC_FILE)
    t_eval = time.time()
    scored, reports = report.score_splits(model, spec, inputs.items, failures, config, inputs.positive)
    timings = {**inputs.timings, "eval_s": round(time.time() - t_eval, 2)}
    report.write_predictions(run.folder / "predictions.csv", scored, spec)
    metrics = report.metrics_of(run.run_id, args, spec, inputs.data_dir, inputs.synthetic, inputs.items,
                                inputs.skipped + data_lib.unique_failures(failures), reports, history, fit_stats,
                                int(model.count_params()), files.folder_bytes(run.folder / "model.keras"), timings)
    files.write_json(run.folder / "metrics.json", metrics)
    run.stage = "export"
    return export_run(run.folder, model, spec, config.quantize)


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


def given_features(paths) -> dict:
    """The --features files read (train.features writes them); one line naming a file that is not one."""
    from .lite0_head import load_cache

    out: dict = {}
    for f in paths:
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


def prepare_data(args) -> tuple[Path, bool]:
    """The data folder to train on, and whether it is the synthetic demo set (generated once, complete or
    absent: demo_data writes it beside and renames it). The demo runs when asked (--demo), or when there
    is no data/ and no run on real pictures yet; once one exists, a missing data/ is an error (a wrong
    directory or an unmounted volume must not quietly train a demo)."""
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
        summary = make_demo_dataset(demo, n_per_class=args.demo_per_class, seed=seed)
        print(f"demo data ready in {summary.get('seconds', 0):.1f} s. These pictures are synthetic: put real "
              f"pictures in {DEFAULT_DATA}/<class>/ to train a useful model.", flush=True)
    return demo, True


def inference_only(model):
    """The same network and weights without the optimizer state (a third of the file size)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone
