"""Run folders, their states, the quality gate, and the commands to manage them.

    models/runs/<run-id>/       everything one run writes
    models/runs/.partial-<id>/  a run being written (nothing reads it; its process holds a lock on it)
    models/current -> runs/<id> the run train.predict, the app and the page use (a symlink, switched
                                atomically), moved only by `promote`
    models/history.jsonl        every promotion, oldest first (what `rollback` goes back along)
    models/.lock                the models folder's lock (`locked`): run ids, promotion, rollback, prune
    models/.promotion.json      the journal of a promotion under way (`promote`)

States: **current**; **candidate** (complete, not current: it did not pass the quality gate, or was
replaced since); **failed** (a run that stopped before it was complete: its folder keeps what was done,
weights and features included, and `failed.json` says why; `python -m train --resume ID` continues it,
`python -m train.export ID` finishes one that stopped while exporting); **interrupted**, the same for a
run stopped by Ctrl-C, a signal or a kill. A run trained on the synthetic demo data is tagged **demo**
whatever its state.

A run being written is a context (`started`): it names the stage it is at and, whatever stops it short
of a kill, marks itself failed with what and why; `finish` moves it into place. A kill leaves its
staging folder unlocked: whoever takes the models folder's lock next keeps it as interrupted, and undoes
a promotion stopped halfway (`repair`, said in one line). Promotion (`promote`) switches the `current`
link, history.jsonl and the page's model together; copying the model into the page is train.site's job,
asked for here.

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
import errno
import fcntl
import json
import os
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
LOCK_FILE = ".lock"  # models/.lock: the models folder's one lock (`locked`)
PROMOTION_FILE = ".promotion.json"  # models/: the journal of a promotion under way (`promote`)
RUNNING_FILE = "running.json"  # in a run being written: its stage and process (read after a kill)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
GATE_TOLERANCE = 0.01  # balanced accuracy, on the pictures both runs scored
GATE_MIN_PICTURES = 20


class RunError(InputError):
    """A run that cannot be used; the message names the folder and what is wrong."""


# ---------------------------------------------------------------- the models folder's lock and repair


_held: dict[str, list] = {}  # models folder -> [lock file descriptor, depth] while this process holds it


@contextlib.contextmanager
def locked(models_dir: Path):
    """The models folder's one lock (fcntl.flock on models/.lock), held for everything that changes which
    runs exist or which is current: choosing a run id, promotion, rollback, the page refresh, pruning.
    Re-entrant in one process (promote inside conclude). The kernel releases it when the holder dies,
    however it dies; whoever takes it next first repairs what a killed holder left (`repair`)."""
    models_dir = Path(models_dir)
    key = str(models_dir.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    models_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(models_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[key] = [fd, 1]
        repair(models_dir)
        yield
    finally:
        _held.pop(key, None)
        os.close(fd)  # releases the lock


def repaired(models_dir: Path) -> None:
    """What a killed command left repaired (`repair`, said in one line), where the models folder exists
    and can be written (a read-only one is only read)."""
    if Path(models_dir).is_dir() and os.access(models_dir, os.W_OK):
        with locked(models_dir):
            pass


def claim(folder: Path) -> int | None:
    """Lock a run folder as this process's (flock on the folder itself: it follows the folder through
    renames, and dies with the process) -> the descriptor holding it, or None when a live process has it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def repair(models_dir: Path) -> None:
    """(With the lock held.) Undo a promotion a kill stopped halfway, and keep every staging folder whose
    process is gone as an *interrupted* run; each said in one line on stderr."""
    models_dir = Path(models_dir)
    journal = read_journal(models_dir)
    if journal is not None:
        undo_promotion(models_dir, journal)
        print(f"{models_dir}: the promotion of {journal['run_id']} was stopped halfway; undone: "
              f"{journal['previous_run'] or 'no run'} is current, as history.jsonl and the page's model say",
              file=sys.stderr)
    root = models_dir / "runs"
    for staging in sorted(root.glob(".partial-*")) if root.is_dir() else ():
        fd = claim(staging) if staging.is_dir() else None
        if fd is None:
            continue  # a run being written by a live process
        try:
            run_id = staging.name[len(".partial-"):]
            try:
                stage = json.loads((staging / RUNNING_FILE).read_text())["stage"]
            except (OSError, ValueError, KeyError, TypeError):
                stage = "start"
            final = mark_failed(staging, models_dir, run_id, stage, "interrupted: its process stopped (killed, "
                                "or the machine went down)", interrupted=True)
            print(f"{final}: run {run_id} was interrupted during {stage}; kept as interrupted (continue it with "
                  f"`python -m train --resume {run_id}`)", file=sys.stderr)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- folders and states


def new_staging(models_dir: Path, run_id: str, exact: bool) -> tuple[str, Path, int]:
    """(With the lock held.) A fresh `.partial-<id>` folder, claimed -> (id, folder, claim). `exact`: the id
    the user chose, refused when taken; else the first free one of id, id-2, id-3, ..."""
    root = Path(models_dir) / "runs"
    root.mkdir(parents=True, exist_ok=True)
    chosen, n = run_id, 1
    while (root / chosen).exists() or (root / f".partial-{chosen}").exists():
        if exact:
            what = "exists" if (root / chosen).exists() else "is being written by another process"
            raise RunError(f"{root / chosen}: a run with this id {what}; choose another --run-id")
        n += 1
        chosen = f"{run_id}-{n}"
    folder = root / f".partial-{chosen}"
    folder.mkdir()
    return chosen, folder, claim(folder)


def mark_failed(staging: Path, models_dir: Path, run_id: str, stage: str, reason: str,
                interrupted: bool = False) -> Path:
    """Keep a run that stopped: failed.json says where and why (and whether it was interrupted: Ctrl-C, a
    signal, a kill); the folder moves to runs/<id>. When even failed.json cannot be written (a full
    disk), the folder moves anyway: it is then listed as broken, never lost."""
    failed = {"stage": stage, "reason": reason, "interrupted": interrupted,
              "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with contextlib.suppress(OSError):
        files.write_json(staging / FAILED_FILE, failed)
    (staging / RUNNING_FILE).unlink(missing_ok=True)
    final = Path(models_dir) / "runs" / run_id
    staging.rename(final)
    return final


def reopen(models_dir: Path, run_id: str) -> tuple[Path, int]:
    """(With the lock held.) A failed or interrupted run back into staging, claimed, to continue it
    (--resume, train.export) -> (folder, claim)."""
    final = Path(models_dir) / "runs" / run_id
    resumable(models_dir, run_id)
    fd = claim(final)
    if fd is None:
        raise RunError(f"{final}: another process is continuing this run")
    staging = final.with_name(f".partial-{run_id}")
    final.rename(staging)
    return staging, fd


def resumable(models_dir: Path, run_id: str) -> dict:
    """A failed or interrupted run's failed.json (one a kill left is `repair`ed first), else a RunError."""
    with locked(models_dir):
        failed = read_failed(Path(models_dir) / "runs" / run_id)
    if failed is None:
        raise RunError(f"{Path(models_dir) / 'runs' / run_id}: not a failed run (only failed runs can be resumed)")
    return failed


def finish(staging: Path, models_dir: Path, run_id: str) -> Path:
    """Move a complete run into place (not current yet: see `promote`)."""
    (staging / FAILED_FILE).unlink(missing_ok=True)
    (staging / RUNNING_FILE).unlink(missing_ok=True)
    problem = incomplete(staging)
    if problem:
        raise RunError(f"{staging}: refusing to finish an incomplete run ({problem})")
    final = Path(models_dir) / "runs" / run_id
    staging.rename(final)
    return final


class ActiveRun:
    """A run being written: its id, its folder (`.partial-<id>` until finished, locked by this process)
    and the stage it is at (also in its running.json: what a killed run leaves to say where it stopped).
    `failed`: where it was kept when it failed; `reason`: why, in one line."""

    def __init__(self, models_dir: Path, run_id: str, folder: Path, stage: str):
        self.models_dir, self.run_id, self.folder = Path(models_dir), run_id, folder
        self.stage = stage
        self.final: Path | None = None
        self.failed: Path | None = None
        self.reason: str | None = None

    @property
    def stage(self) -> str:
        return self._stage

    @stage.setter
    def stage(self, stage: str) -> None:
        self._stage = stage
        files.write_json(self.folder / RUNNING_FILE, {"stage": stage, "pid": os.getpid()})

    def finish(self) -> Path:
        """Move the complete run into place (not current yet: see `promote`)."""
        self.final = finish(self.folder, self.models_dir, self.run_id)
        return self.final


@contextlib.contextmanager
def started(models_dir: Path, run_id: str, stage: str = "training", exact: bool = True, resume: bool = False):
    """A run being written, as a context: a fresh staging folder (`exact`: under this very id, else the
    first free id from it), or with `resume` the failed run `run_id` reopened. Whatever ends the block
    before `finish` marks the run failed at its stage and is raised again: Ctrl-C as "interrupted
    (Ctrl-C)", a full disk as one line naming the folder, a bad input with its message, anything else
    as one line with the traceback kept in the run's error.log. A kill leaves the folder for `repair`."""
    with locked(models_dir):
        if resume:
            folder, fd = reopen(models_dir, run_id)
        else:
            run_id, folder, fd = new_staging(models_dir, run_id, exact)
        try:
            run = ActiveRun(models_dir, run_id, folder, stage)
        except BaseException:
            os.close(fd)
            raise
    try:
        yield run
    except BaseException as e:
        if run.final is None:
            interrupted = isinstance(e, KeyboardInterrupt)
            if interrupted:
                run.reason = "interrupted (Ctrl-C)"
            elif isinstance(e, InputError):
                run.reason = str(e)
            elif disk_full(e):
                run.reason = f"no space left on the disk of {Path(models_dir).absolute()} (free some, then continue)"
            else:
                with contextlib.suppress(OSError):
                    (run.folder / ERROR_LOG).write_text(traceback.format_exc())
                run.reason = one_line(e)
            run.failed = mark_failed(run.folder, models_dir, run.run_id, run.stage, run.reason, interrupted)
        raise
    finally:
        os.close(fd)


def disk_full(e: BaseException | None) -> bool:
    """Did `e`, or an error it came from, say the disk is full? (TensorFlow's writers wrap the OSError.)"""
    while e is not None:
        if (isinstance(e, OSError) and e.errno in DISK_FULL) or os.strerror(errno.ENOSPC) in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


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
    """-> (complete runs, newest first; [(folder, problem)] for failed, interrupted and broken ones). Runs
    still being written (`.partial-*`) are not listed; those a kill left are, once `repair`ed."""
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
    failed = read_failed(run_dir)
    if failed is not None:
        return "interrupted" if failed.get("interrupted") else "failed"
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
    """Make a complete run current, as one transaction under the models folder's lock: the page's new
    model folder prepared first (nothing switched yet), a journal written, then the `current` link,
    history.jsonl and the page's `model` link switched; any failure undoes all three (a kill: the next
    holder of the lock undoes them, see `repair`), and only then is the journal removed."""
    models_dir = Path(models_dir)
    with locked(models_dir):
        run_dir = resolve(models_dir, run_id)
        link, log = models_dir / "current", models_dir / HISTORY_FILE
        page = None if site is None else (Path(site) / "model").absolute()
        version = None
        if page is not None:
            names, tfjs_dir = page_files(run_dir)
            try:
                version = site_files.prepare_copy(run_dir, page, names, tfjs_dir=tfjs_dir)
            except OSError as e:
                raise RunError(f"{page.parent}: cannot copy {run_dir.name}'s model into the page ({one_line(e)}); "
                               f"nothing changed, {current_run_id(models_dir) or 'no run'} is still current") from None
        journal = {"run_id": run_dir.name, "previous_run": current_run_id(models_dir),
                   "previous_current": os.readlink(link) if link.is_symlink() else None,
                   "history_bytes": log.stat().st_size if log.exists() else None,
                   "page": None if page is None else str(page),
                   "previous_page": os.readlink(page) if page is not None and page.is_symlink() else None,
                   "page_version": None if version is None else str(version)}
        try:
            files.write_json(models_dir / PROMOTION_FILE, journal)
            files.switch_link(link, Path("runs") / run_dir.name)
            with open(log, "a") as f:
                f.write(json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                    "run_id": run_dir.name, "why": why}) + "\n")
            if page is not None:
                site_files.switch_copy(page, version)
        except BaseException as e:
            undo_promotion(models_dir, journal)
            if isinstance(e, OSError):
                raise RunError(f"{models_dir}: cannot make {run_dir.name} current ({one_line(e)}); undone, "
                               f"{journal['previous_run'] or 'no run'} is still current") from None
            raise
        (models_dir / PROMOTION_FILE).unlink()
        if page is not None:
            site_files.drop_old_copies(page)
    return run_dir


def read_journal(models_dir: Path) -> dict | None:
    """The journal of a promotion under way (or stopped halfway by a kill), else None."""
    try:
        return json.loads((Path(models_dir) / PROMOTION_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # never complete: written beside and renamed, so never switched anything
        (Path(models_dir) / PROMOTION_FILE).unlink(missing_ok=True)
        return None


def undo_promotion(models_dir: Path, journal: dict) -> None:
    """Put `current`, history.jsonl and the page's `model` back as the journal says they were, drop the
    prepared page folder, then the journal."""
    models_dir = Path(models_dir)
    link, log = models_dir / "current", models_dir / HISTORY_FILE
    if journal["previous_current"] is None:
        link.unlink(missing_ok=True)
    else:
        files.switch_link(link, journal["previous_current"])
    if journal["history_bytes"] is None:
        log.unlink(missing_ok=True)
    elif log.exists():
        os.truncate(log, journal["history_bytes"])
    if journal["page"] is not None:
        page = Path(journal["page"])
        if journal["previous_page"] is None:
            if page.is_symlink():
                page.unlink()
            replaced = page.with_name(f".{page.name}-replaced")
            if replaced.is_dir():  # a copy made before links were used, moved aside by switch_copy
                replaced.rename(page)
        else:
            files.switch_link(page, journal["previous_page"])
        shutil.rmtree(journal["page_version"], ignore_errors=True)
    (models_dir / PROMOTION_FILE).unlink(missing_ok=True)


def page_files(run_dir: Path) -> tuple[list[str], str]:
    """What the page gets of a run: the files it reads beside the bundle, and the served bundle's folder."""
    return list(PAGE_READS), load_metrics(run_dir).get("model", {}).get("served_tfjs", "tfjs")


def conclude(models: Path, final: Path, site: Path | None, force: bool) -> None:
    """The quality gate: the finished run becomes current (and the page's model), or stays a candidate."""
    with locked(models):  # the gate against the run that is current when the new one replaces it
        ok, why = (True, "--force") if force else gate(models, final)
        if ok:
            promote(models, final.name, site, why=why)
    if ok:
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
    repaired(models)
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
    if state in ("failed", "interrupted"):
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
    with locked(models):
        current = current_run_id(models)
        previous = [h["run_id"] for h in history(models) if h.get("run_id") != current]
        for run_id in reversed(previous):
            if (Path(models) / "runs" / run_id).is_dir() and not incomplete(Path(models) / "runs" / run_id):
                promote(models, run_id, site, why=f"rollback from {current}")
                print(f"{run_id} is current again (was {current})")
                return 0
    raise RunError(f"{models}: no earlier current run to go back to")


def cmd_prune(models: Path, keep: int) -> int:
    """Old candidates, and failed, interrupted and broken runs, deleted; never the current run, nor a run
    being written (its process holds it)."""
    with locked(models):
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
