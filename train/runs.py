"""Run folders, their states, the quality gate, and the commands to manage them.

    models/runs/<run-id>/       everything one run writes
    models/runs/.partial-<id>/  a run being written (nothing reads it)
    models/current -> runs/<id> the run train.predict, the app and the page use (a symlink, switched
                                atomically), moved only by `promote`
    models/history.jsonl        every promotion, oldest first (what `rollback` goes back along)

States: **current**; **candidate** (complete, not current: it did not pass the quality gate, or was
replaced since); **failed** (a run that stopped before it was complete: its folder keeps what was done,
weights included, and `failed.json` says why; `python -m train --resume ID` continues it, `python -m
train.export ID` finishes one that stopped while exporting). A run trained on the synthetic demo data is
tagged **demo** whatever its state.

A run being written is a context (`started`): it names the stage it is at and, whatever stops it,
marks itself failed with what and why; `finish` moves it into place. Promotion (`promote`) switches the
`current` link; copying the model into the page is train.site's job, asked for here.

Quality gate: a new run replaces the current one only if its balanced accuracy on the validation and
test pictures both runs scored (the split is stable, so old pictures keep their split) is at least the
current run's minus GATE_TOLERANCE, and a demo run never replaces a run trained on real pictures. Where
they share fewer than GATE_MIN_PICTURES pictures there is nothing fair to compare and the new run wins.
`--force` skips the gate.

    python -m train.runs list | show RUN | promote RUN | rollback | prune [--keep N]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import shutil
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import files, site as site_files
from .config import DEFAULT_MODELS, DEFAULT_SITE
from .csvfile import open_csv
from .errors import InputError, command, one_line
from .preprocess import SPEC_FILE, Spec, load_spec

REQUIRED_FILES = ("model.keras", "metrics.json", "predictions.csv", SPEC_FILE, "tfjs/model.json")
PAGE_READS = (SPEC_FILE, "metrics.json")  # what the page reads beside the served TF.js bundle
FAILED_FILE = "failed.json"
ERROR_LOG = "error.log"  # the traceback of an unexpected failure
CONFIG_FILE = "config.json"  # the arguments a run was started with (for --resume)
FEATURES_FILE = "features.npz"  # lite0: the picture features (for --resume and --init-from)
CHECKPOINT_FILE = "checkpoint.weights.h5"  # Keras-trained archs: the weights after the last epoch
HISTORY_FILE = "history.jsonl"
GATE_TOLERANCE = 0.01  # balanced accuracy, on the pictures both runs scored
GATE_MIN_PICTURES = 20


class RunError(InputError):
    """A run that cannot be used; the message names the folder and what is wrong."""


# ---------------------------------------------------------------- folders and states


def staging_dir(models_dir: Path, run_id: str) -> Path:
    """A fresh `.partial-<id>` folder; refuses an id a run already has."""
    if (Path(models_dir) / "runs" / run_id).exists():
        raise RunError(f"{Path(models_dir) / 'runs' / run_id}: a run with this id exists; choose another --run-id")
    path = Path(models_dir) / "runs" / f".partial-{run_id}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def mark_failed(staging: Path, models_dir: Path, run_id: str, stage: str, reason: str) -> Path:
    """Keep a run that stopped: failed.json says where and why; the folder moves to runs/<id>."""
    files.write_json(staging / FAILED_FILE, {"stage": stage, "reason": reason,
                                      "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    final = Path(models_dir) / "runs" / run_id
    if final.exists():  # a resumed run: its folder was moved back to staging, so this is stale
        shutil.rmtree(final)
    staging.rename(final)
    return final


def reopen(models_dir: Path, run_id: str) -> Path:
    """A failed run back into staging, to continue it (--resume, train.export)."""
    final = Path(models_dir) / "runs" / run_id
    failed = read_failed(final)
    if failed is None:
        raise RunError(f"{final}: not a failed run (only failed runs can be resumed)")
    staging = Path(models_dir) / "runs" / f".partial-{run_id}"
    if staging.exists():
        shutil.rmtree(staging)
    final.rename(staging)
    return staging


def finish(staging: Path, models_dir: Path, run_id: str) -> Path:
    """Move a complete run into place (not current yet: see `promote`)."""
    (staging / FAILED_FILE).unlink(missing_ok=True)
    problem = incomplete(staging)
    if problem:
        raise RunError(f"{staging}: refusing to finish an incomplete run ({problem})")
    final = Path(models_dir) / "runs" / run_id
    staging.rename(final)
    return final


class ActiveRun:
    """A run being written: its id, its folder (`.partial-<id>` until finished) and the stage it is at.
    `failed`: where it was kept when it failed; `reason`: why, in one line."""

    def __init__(self, models_dir: Path, run_id: str, folder: Path, stage: str):
        self.models_dir, self.run_id, self.folder, self.stage = Path(models_dir), run_id, folder, stage
        self.final: Path | None = None
        self.failed: Path | None = None
        self.reason: str | None = None

    def finish(self) -> Path:
        """Move the complete run into place (not current yet: see `promote`)."""
        self.final = finish(self.folder, self.models_dir, self.run_id)
        return self.final


@contextlib.contextmanager
def started(models_dir: Path, run_id: str, folder: Path | None = None, stage: str = "training"):
    """A run being written, as a context: a fresh staging folder (or `folder`, one `reopen`ed). Whatever
    ends the block before `finish` marks the run failed at its stage and is raised again: Ctrl-C as
    "interrupted (Ctrl-C)", a bad input with its message, anything else as one line with the traceback
    kept in the run's error.log."""
    run = ActiveRun(models_dir, run_id, folder or staging_dir(models_dir, run_id), stage)
    try:
        yield run
    except BaseException as e:
        if run.final is None:
            if isinstance(e, KeyboardInterrupt):
                run.reason = "interrupted (Ctrl-C)"
            elif isinstance(e, InputError):
                run.reason = str(e)
            else:
                (run.folder / ERROR_LOG).write_text(traceback.format_exc())
                run.reason = one_line(e)
            run.failed = mark_failed(run.folder, models_dir, run_id, run.stage, run.reason)
        raise


def read_failed(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / FAILED_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"stage": "?", "reason": f"unreadable {FAILED_FILE}"}


def incomplete(run_dir: Path) -> str | None:
    """None for a complete, readable run; otherwise what is wrong with it, in a few words."""
    run_dir = Path(run_dir)
    failed = read_failed(run_dir)
    if failed is not None:
        return f"failed during {failed.get('stage', '?')}: {failed.get('reason', '?')}"
    missing = [f for f in REQUIRED_FILES if not (run_dir / f).is_file()]
    if missing:
        return "missing " + ", ".join(missing)
    try:
        json.loads((run_dir / "metrics.json").read_text())
        load_spec(run_dir / SPEC_FILE)
    except (ValueError, OSError, KeyError, TypeError) as e:
        return f"unreadable report ({e})"
    return None


def no_current_run(models_dir: Path) -> RunError:
    return RunError(f"{Path(models_dir) / 'current'}: no current run yet; train one with `python -m train`")


def resolve(models_dir: Path, run: str | None = None) -> Path:
    """A run id, a run folder, or None for the current run -> its folder (checked complete)."""
    models_dir = Path(models_dir)
    if run is None:
        path = models_dir / "current"
        if not path.exists():
            raise no_current_run(models_dir)
    else:
        path = Path(run) if Path(run).is_dir() else models_dir / "runs" / run
        if not path.is_dir():
            raise RunError(f"{run}: no such run folder (looked in {models_dir / 'runs'})")
    problem = incomplete(path)
    if problem:
        raise RunError(f"{path}: incomplete or corrupt run ({problem})")
    return path.resolve()


def list_runs(models_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """-> (complete runs, newest first; [(folder, problem)] for failed and broken ones). Runs still being
    written (`.partial-*`) are not listed."""
    root = Path(models_dir) / "runs"
    good, bad = [], []
    if root.is_dir():
        for path in sorted(root.iterdir(), key=lambda p: (created(p), p.name), reverse=True):
            if not path.is_dir() or path.name.startswith("."):
                continue
            problem = incomplete(path)
            (bad.append((path, problem)) if problem else good.append(path))
    return good, bad


def created(run_dir: Path) -> str:
    """When a run was made (its report's time stamp, else the folder's), for ordering."""
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text())["created"]
    except (OSError, ValueError, KeyError, TypeError):
        stamp = datetime.fromtimestamp(Path(run_dir).stat().st_mtime, timezone.utc)
        return stamp.isoformat(timespec="seconds")


def current_run_id(models_dir: Path) -> str | None:
    link = Path(models_dir) / "current"
    return link.resolve().name if link.exists() else None


def state_of(models_dir: Path, run_dir: Path) -> str:
    if read_failed(run_dir) is not None:
        return "failed"
    if incomplete(run_dir):
        return "broken"
    return "current" if Path(run_dir).name == current_run_id(models_dir) else "candidate"


def is_demo(run_dir: Path) -> bool:
    try:
        return bool(load_metrics(run_dir)["data"]["synthetic"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load_metrics(run_dir: Path) -> dict:
    """A run's metrics.json. Its reports are keyed by split name, "val" and "test", as in predictions.csv
    (runs written before that said "validation": read alike)."""
    m = json.loads((Path(run_dir) / "metrics.json").read_text())
    if isinstance(m, dict) and "validation" in m and "val" not in m:
        m["val"] = m.pop("validation")
    return m


def load_run_model(run_dir: Path) -> tuple[Spec, object]:
    import keras

    from . import model as _layers  # noqa: F401  registers the custom layers model.keras files use

    try:
        spec = load_spec(Path(run_dir) / SPEC_FILE)
    except ValueError as e:
        raise RunError(str(e)) from None
    try:
        model = keras.saving.load_model(Path(run_dir) / "model.keras", compile=False)
    except Exception as e:  # Keras raises many types for a damaged archive
        raise RunError(f"{Path(run_dir) / 'model.keras'}: cannot load model ({type(e).__name__}: {e})".splitlines()[0])
    return spec, model


# ---------------------------------------------------------------- the quality gate and promotion


def predictions(run_dir: Path) -> dict[str, tuple[str, str]]:
    """{picture path: (true class, predicted class)} of a run's validation and test pictures."""
    with open_csv(Path(run_dir) / "predictions.csv") as f:
        return {r["path"]: (r["true_class"], r["predicted_class"]) for r in csv.DictReader(f)}


def balanced_accuracy(pairs) -> float:
    by_class: dict[str, list[bool]] = {}
    for true, pred in pairs:
        by_class.setdefault(true, []).append(true == pred)
    return sum(sum(v) / len(v) for v in by_class.values()) / len(by_class)


def gate(models_dir: Path, new_run: Path) -> tuple[bool, str]:
    """Should new_run replace the current run? -> (yes/no, one line saying why)."""
    current = current_run_id(models_dir)
    if current is None:
        return True, "no current run yet"
    old_run = Path(models_dir) / "runs" / current
    if incomplete(old_run):
        return True, f"the current run {current} is unusable ({incomplete(old_run)})"
    if is_demo(new_run) and not is_demo(old_run):
        return False, (f"a run on the synthetic demo data never replaces {current}, trained on real pictures "
                       "(--force to promote it anyway)")
    old, new = predictions(old_run), predictions(new_run)
    common = sorted(set(old) & set(new))
    if len(common) < GATE_MIN_PICTURES or load_metrics(old_run).get("class_names") != load_metrics(new_run).get("class_names"):
        return True, (f"only {len(common)} pictures in common with {current} (or other classes): nothing fair "
                      "to compare, the new run wins")
    a, b = balanced_accuracy(old[p] for p in common), balanced_accuracy(new[p] for p in common)
    verdict = b >= a - GATE_TOLERANCE
    line = (f"balanced accuracy {b:.3f} vs {a:.3f} for {current} on the {len(common)} validation and test pictures "
            f"both scored (tolerance {GATE_TOLERANCE})")
    return verdict, line


def promote(models_dir: Path, run_id: str, site: Path | None, why: str = "") -> Path:
    """Make a complete run current: switch the `current` link, log it, refresh the page's model."""
    models_dir = Path(models_dir)
    run_dir = resolve(models_dir, run_id)
    files.switch_link(models_dir / "current", Path("runs") / run_dir.name)
    with open(models_dir / HISTORY_FILE, "a") as f:
        f.write(json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "run_id": run_dir.name, "why": why}) + "\n")
    if site is not None:
        refresh_site(run_dir, site)
    return run_dir


def page_files(run_dir: Path) -> tuple[list[str], str]:
    """What the page gets of a run: the files it reads beside the bundle, and the served bundle's folder."""
    return list(PAGE_READS), load_metrics(run_dir).get("model", {}).get("served_tfjs", "tfjs")


def refresh_site(run_dir: Path, site: Path) -> None:
    names, tfjs_dir = page_files(run_dir)
    site_files.copy_to_static_site(run_dir, Path(site) / "model", names, tfjs_dir=tfjs_dir)


def conclude(models: Path, final: Path, site: Path | None, force: bool) -> None:
    """The quality gate: the finished run becomes current (and the page's model), or stays a candidate."""
    ok, why = (True, "--force") if force else gate(models, final)
    if ok:
        promote(models, final.name, site, why=why)
        print(f"{final.name} is now current ({why})" + (f"; {site / 'model'} refreshed" if site else ""))
    else:
        print(f"{final.name} kept as a candidate, not current: {why}. "
              f"Make it current with `python -m train.runs promote {final.name}`")


def site_for(models_dir: Path, given: Path | None) -> Path | None:
    """The static site whose model/ follows this models folder's current run: the one given ('' for
    none), else static_site/ for the default models/ folder only (a run trained elsewhere, e.g. `--models
    /tmp/x`, never replaces the page's model)."""
    if given is not None:
        return None if str(given) in ("", ".") else Path(given)
    return DEFAULT_SITE if Path(models_dir).resolve() == DEFAULT_MODELS.resolve() else None


def history(models_dir: Path) -> list[dict]:
    try:
        lines = (Path(models_dir) / HISTORY_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# ---------------------------------------------------------------- python -m train.runs


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.runs", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help=f"models folder (default: {DEFAULT_MODELS}/)")
    p.add_argument("--static-site", type=Path, default=None,
                   help=f"static site whose model/ follows the current run (default: {DEFAULT_SITE}/ for "
                        f"{DEFAULT_MODELS}/)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every run, newest first, with its state and scores")
    show = sub.add_parser("show", help="one run's scores, state and why it is not current")
    show.add_argument("run", help="a run id, or 'current' (as --init-from takes it)")
    prom = sub.add_parser("promote", help="make a run current (skips the quality gate)")
    prom.add_argument("run")
    sub.add_parser("rollback", help="make the run that was current before the current one current again")
    prune = sub.add_parser("prune", help="delete old candidate and failed runs")
    prune.add_argument("--keep", type=int, default=5, help="candidates to keep, newest first (default 5)")
    args = p.parse_args(argv)
    models, site = args.models, site_for(args.models, args.static_site)
    if args.command == "list":
        return cmd_list(models)
    if args.command == "show":
        return cmd_show(models, args.run)
    if args.command == "promote":
        run = promote(models, args.run, site, why="promoted by hand")
        print(f"{run.name} is now current" + (f"; {site / 'model'} refreshed" if site else ""))
        return 0
    if args.command == "rollback":
        return cmd_rollback(models, site)
    return cmd_prune(models, args.keep)


def _score(run_dir: Path) -> str:
    try:
        t = load_metrics(run_dir).get("test") or {}
        return f"test balanced accuracy {t['balanced_accuracy']:.3f} on {t['n']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "no test scores"


def cmd_list(models: Path) -> int:
    good, bad = list_runs(models)
    if not good and not bad:
        print(f"no runs in {Path(models) / 'runs'}; train one with `python -m train`")
        return 0
    for run in good:
        m = load_metrics(run)
        tag = " demo" if is_demo(run) else ""
        print(f"{run.name:32s} {state_of(models, run):9s}{tag:5s} {m.get('arch', '?'):14s} {_score(run)}")
    for run, problem in bad:
        print(f"{run.name:32s} {state_of(models, run):9s}      {problem}")
    return 0


def cmd_show(models: Path, run_id: str) -> int:
    if run_id == "current":
        run_id = current_run_id(models)
        if run_id is None:
            raise no_current_run(models)
    run = Path(models) / "runs" / run_id
    if not run.is_dir():
        raise RunError(f"{run_id}: no such run folder (looked in {Path(models) / 'runs'})")
    state = state_of(models, run)
    print(f"{run_id}: {state}" + (" (synthetic demo data)" if is_demo(run) else ""))
    if state == "failed":
        f = read_failed(run)
        print(f"stopped during {f.get('stage')}: {f.get('reason')}")
        print(f"continue it: python -m train --resume {run_id}"
              + (f"   or finish its export: python -m train.export {run_id}" if f.get("stage") == "export" else ""))
        return 0
    if state == "broken":
        print(incomplete(run))
        return 0
    m = load_metrics(run)
    print(f"{m.get('arch')} on {m.get('data', {}).get('root')}; {_score(run)}; created {m.get('created')}")
    if state == "candidate":
        print("against the current run: " + gate(models, run)[1])
    return 0


def cmd_rollback(models: Path, site: Path | None) -> int:
    current = current_run_id(models)
    previous = [h["run_id"] for h in history(models) if h.get("run_id") != current]
    for run_id in reversed(previous):
        if (Path(models) / "runs" / run_id).is_dir() and not incomplete(Path(models) / "runs" / run_id):
            promote(models, run_id, site, why=f"rollback from {current}")
            print(f"{run_id} is current again (was {current})")
            return 0
    raise RunError(f"{models}: no earlier current run to go back to")


def cmd_prune(models: Path, keep: int) -> int:
    good, bad = list_runs(models)
    current = current_run_id(models)
    candidates = [r for r in good if r.name != current]
    doomed = candidates[keep:] + [r for r, _ in bad]
    for run in doomed:
        shutil.rmtree(run)
        print(f"deleted {run.name}")
    print(f"{len(doomed)} runs deleted; kept {current} (current) and {min(keep, len(candidates))} candidates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
