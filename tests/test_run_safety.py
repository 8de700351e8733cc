"""Nothing lost when a run is interrupted, killed or starved of disk, and nothing mixed when commands run
at once on one models folder (issue 18, rows 1-6). Kills are real signals to real processes; concurrent
commands are real processes started together."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from train import runs

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--arch", "tracenet", "--epochs", "1", "--image-size", "32", "--grid", "1", "--batch-size", "16"]


def spawn(code: str, *args, **kw) -> subprocess.Popen:
    """`python -c code args` from the project's folder, in a session of its own with SIGINT at its
    default (a background job of a non-interactive shell would ignore it), output captured."""
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(condition, procs, timeout: float = 180.0) -> None:
    """Poll until condition() holds; fail (with the processes' output) if one of them ends first."""
    deadline = time.time() + timeout
    while not condition():
        ended = [p for p in procs if p.poll() is not None]
        if ended or time.time() > deadline:
            for p in procs:
                p.kill()
            outs = [p.communicate() for p in procs]
            pytest.fail(f"condition not reached (exit codes {[p.returncode for p in procs]}): {outs}")
        time.sleep(0.05)


def runs_command(models, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.runs", "--models", str(models), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


# Two `python -m train` at the same second: the clock of both is frozen at one second, and both wait for
# the same file before they start.
SAME_SECOND = """
import datetime, pathlib, sys, time
import train.pipeline as pipeline

class SameSecond(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 1, 2, 3, 4, 5, tzinfo=tz)

pipeline.datetime = SameSecond
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
sys.exit(pipeline.main(sys.argv[2:]))
"""


def test_two_runs_started_in_the_same_second_get_their_own_folders_and_a_kill_is_listed(tmp_path, tiny_data):
    """Rows 4 and 2: two runs started together get two run ids and two folders, each with its own
    arguments; SIGKILLed while training, both are then listed as interrupted, shown as resumable and
    pruned like failed runs."""
    models, go = tmp_path / "models", tmp_path / "go"
    procs = [spawn(SAME_SECOND, go, "--data", tiny_data, "--models", models, "--static-site", "", "--seed", seed,
                   *FAST) for seed in (11, 22)]
    go.touch()
    configs = lambda: sorted((models / "runs").glob(".partial-*/config.json"))  # noqa: E731
    wait_for(lambda: len(configs()) == 2, procs)
    for p in procs:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
    ids = sorted(f.parent.name[len(".partial-"):] for f in configs())
    assert ids == ["20260102-030405-tracenet", "20260102-030405-tracenet-2"]
    seeds = sorted(json.loads(f.read_text())["argv"][json.loads(f.read_text())["argv"].index("--seed") + 1]
                   for f in configs())
    assert seeds == ["11", "22"]  # one run's arguments in each folder

    listed = runs_command(models, "list")
    assert listed.returncode == 0, listed.stderr
    said = listed.stderr.strip().splitlines()  # the repair, one line a run
    assert len(said) == 2 and all("interrupted during training" in line for line in said)
    for run_id in ids:
        assert any(line.startswith(run_id) and " interrupted " in line for line in listed.stdout.splitlines())
        assert runs.state_of(models, models / "runs" / run_id) == "interrupted"
    shown = runs_command(models, "show", ids[0])
    assert f"python -m train --resume {ids[0]}" in shown.stdout
    pruned = runs_command(models, "prune")
    assert pruned.returncode == 0 and not any((models / "runs").iterdir())


def test_the_same_run_id_twice_at_once_is_refused_without_touching_the_other(tmp_path, tiny_data):
    """Row 4 (a chosen id): the second run with the id of one being written stops with one line naming it;
    the first run's folder is never deleted or written into."""
    models, go = tmp_path / "models", tmp_path / "go"
    first = spawn(SAME_SECOND, go, "--data", tiny_data, "--models", models, "--static-site", "", "--run-id", "same",
                  "--seed", "11", *FAST)
    go.touch()
    staging = models / "runs" / ".partial-same"
    wait_for(lambda: (staging / "config.json").is_file(), [first])
    second = spawn(SAME_SECOND, go, "--data", tiny_data, "--models", models, "--static-site", "", "--run-id",
                   "same", "--seed", "22", *FAST)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 2, err
    assert err.strip().splitlines() == [f"error: {models / 'runs' / 'same'}: a run with this id is being written by "
                                        "another process; choose another --run-id"]
    assert first.poll() is None and "11" in json.loads((staging / "config.json").read_text())["argv"]
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()


# Rounds of promotion, each after a random pause (as separate commands would start), all after one file.
PROMOTE_ROUNDS = """
import pathlib, random, sys, time
from train import runs

models, site, run, go, rounds = sys.argv[1:]
while not pathlib.Path(go).exists():
    time.sleep(0.001)
for _ in range(int(rounds)):
    time.sleep(random.uniform(0, 0.05))
    if runs.main(["--models", models, "--static-site", site, "promote", run]) != 0:
        sys.exit(1)
"""


def test_promotions_at_once_never_leave_the_page_on_a_deleted_model(tmp_path, fake_models):
    """Row 5: two processes promoting two runs 20 times each, at once. The page's model link never points
    at a deleted folder (watched all along), every command succeeds, and at the end `current`,
    history.jsonl and the page's model name the same run."""
    site, go = tmp_path / "site", tmp_path / "go"
    before = len(runs.history(fake_models))
    for run in ("tiny-rendernet2017", "tiny-tracenet"):  # a copy that takes a moment, as a real model's does
        (fake_models / "runs" / run / "tfjs" / "group1-shard1of1.bin").write_bytes(os.urandom(4 << 20))
    procs = [spawn(PROMOTE_ROUNDS, fake_models, site, run, go, 20) for run in ("tiny-rendernet2017", "tiny-tracenet")]
    go.touch()
    page, dangling = site / "model", 0
    while any(p.poll() is None for p in procs):
        if page.is_symlink() and not (page / "metrics.json").is_file():
            dangling += 1
        time.sleep(0.0005)
    outs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any(err for _, err in outs), outs
    assert dangling == 0
    current = runs.current_run_id(fake_models)
    assert json.loads((page / "metrics.json").read_text())["run_id"] == current
    assert runs.history(fake_models)[-1]["run_id"] == current and len(runs.history(fake_models)) == before + 40
    assert [p.name for p in site.iterdir() if p.name.startswith(".model-")] == [page.resolve().name]


# A promotion killed (SIGKILL) after `current` and history.jsonl were switched, before the page's model:
# the second link switch of the promotion (the first is `current`) kills the process.
KILLED_PROMOTION = """
import os, signal, sys
from train import files, runs

switch, calls = files.switch_link, []

def killed_at_the_page(link, target):
    calls.append(link)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    switch(link, target)

files.switch_link = killed_at_the_page
sys.exit(runs.main(sys.argv[1:]))
"""


def page_state(models: Path, site: Path):
    return (runs.current_run_id(models), (models / runs.HISTORY_FILE).read_bytes(),
            json.loads((site / "model" / "metrics.json").read_text())["run_id"])


def test_a_killed_promotion_is_undone_at_the_next_start(tmp_path, fake_models):
    """Row 6: a promotion killed between switching `current` and switching the page's model leaves them
    disagreeing only until the next command: it undoes the promotion, says so in one line, and `current`,
    history.jsonl and the page are back as they were, together."""
    site = tmp_path / "site"
    assert runs.main(["--models", str(fake_models), "--static-site", str(site), "promote", "tiny-tracenet"]) == 0
    before = page_state(fake_models, site)
    killed = spawn(KILLED_PROMOTION, "--models", fake_models, "--static-site", site, "promote", "tiny-rendernet2017")
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert runs.current_run_id(fake_models) == "tiny-rendernet2017"  # the kill did come halfway
    listed = runs_command(fake_models, "list")
    assert listed.returncode == 0
    said = listed.stderr.strip().splitlines()
    assert len(said) == 1 and "promotion of tiny-rendernet2017 was stopped halfway; undone" in said[0]
    assert page_state(fake_models, site) == before
    assert [p.name for p in site.iterdir() if p.name.startswith(".model-")] == [(site / "model").resolve().name]
    assert runs_command(fake_models, "list").stderr == ""  # repaired once


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs mounted at tmp_path/disk (skips where mounting is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip() or made.returncode}): needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_page_copy_on_a_full_disk_changes_nothing(tmp_path, fake_models, small_disk):
    """Row 6 (and 3): the page's folder on a full disk. The promotion fails with one line naming the
    folder, before anything is switched: `current`, history.jsonl and the page stay as they were, and no
    half-copied model is left on the disk."""
    site = small_disk / "site"
    assert runs.main(["--models", str(fake_models), "--static-site", str(site), "promote", "tiny-tracenet"]) == 0
    before = page_state(fake_models, site)
    shard = fake_models / "runs" / "tiny-rendernet2017" / "tfjs" / "group1-shard1of1.bin"
    shard.write_bytes(os.urandom(2 << 20))  # does not fit
    out = runs_command(fake_models, "--static-site", site, "promote", "tiny-rendernet2017")
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {site}: cannot copy tiny-rendernet2017's model into the page")
    assert "No space left on device" in err[0] and "tiny-tracenet is still current" in err[0]
    assert page_state(fake_models, site) == before
    assert [p.name for p in site.iterdir() if p.name.startswith(".model-")] == [(site / "model").resolve().name]


TRAIN = "import sys; from train.pipeline import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_ctrl_c_while_embedding_keeps_the_features_and_resume_embeds_only_the_rest(tmp_path, tiny_data, capsys):
    """Row 1: `python -m train` (the default recipe) interrupted by SIGINT after a few chunks of features
    landed keeps them in the interrupted run, each a complete file; --resume embeds only the rest."""
    from train import features
    from train.pipeline import main

    models = tmp_path / "models"
    proc = spawn(TRAIN, "--data", tiny_data, "--models", models, "--static-site", "", "--run-id", "emb",
                 "--chunk", "8")
    landed = lambda: list((models / "runs" / ".partial-emb" / "feature-chunks").glob("chunk-*.npz"))  # noqa: E731
    wait_for(lambda: len(landed()) >= 2, [proc])
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "python -m train --resume emb" in err.strip().splitlines()[-1]
    run = models / "runs" / "emb"
    failed = json.loads((run / "failed.json").read_text())
    assert failed["stage"] == "training" and failed["interrupted"] and runs.state_of(models, run) == "interrupted"
    kept = sorted((run / "feature-chunks").iterdir())
    assert len(kept) >= 2 and all(f.name.startswith("chunk-") for f in kept)  # no half-written file beside
    done = sum(len(features.chunk_keys(f)) for f in kept)
    assert done >= 16

    capsys.readouterr()
    assert main(["--resume", "emb", "--models", str(models)]) == 0
    wanted = json.loads((run / "metrics.json").read_text())
    embedded = wanted["training"]["engine"]["pictures"]
    assert f"features: {done} of {done + embedded} pictures already embedded" in capsys.readouterr().out
    assert wanted["training"]["features_reused"] == done and runs.current_run_id(models) == "emb"


@pytest.mark.slow
def test_a_run_killed_while_exporting_is_listed_and_finished_by_train_export(tmp_path, tiny_data):
    """Row 2 (export): SIGKILL while exporting; the run is then interrupted during export, and
    `python -m train.export` finishes it from its own folder."""
    from train.export import main as export_main

    models = tmp_path / "models"
    proc = spawn(TRAIN, "--data", tiny_data, "--models", models, "--static-site", "", "--run-id", "k", *FAST)
    running = models / "runs" / ".partial-k" / runs.RUNNING_FILE
    wait_for(lambda: running.is_file() and '"export"' in running.read_text(), [proc])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    listed = runs_command(models, "list")
    assert "run k was interrupted during export" in listed.stderr
    run = models / "runs" / "k"
    assert runs.state_of(models, run) == "interrupted" and (run / "model.keras").is_file()
    assert export_main(["k", "--models", str(models), "--static-site", ""]) == 0
    assert runs.incomplete(run) is None and runs.current_run_id(models) == "k"


@pytest.mark.slow
def test_a_full_disk_while_exporting_is_one_line_and_leaves_no_half_file(tmp_path, tiny_data, small_disk):
    """Row 3: the models folder on a disk that fills up during the export. One line names the folder, no
    traceback; no half-written bundle or temporary file is left; with space again, train.export finishes."""
    from train.export import main as export_main

    models = small_disk / "models"
    # room for the trained model and its checkpoint, not for its TF.js bundles
    subprocess.run(["mount", "-o", "remount,size=2600k", str(small_disk)], check=True)
    out = subprocess.run([sys.executable, "-c", TRAIN, "--data", str(tiny_data), "--models", str(models),
                          "--static-site", "", "--run-id", "full", *FAST], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: run full failed during export: no space left on the disk of {models}")
    assert "python -m train.export full" in last
    run = models / "runs" / "full"
    assert runs.read_failed(run)["stage"] == "export"
    assert not [p for p in models.rglob(".*") if p.name != runs.LOCK_FILE]  # no temporary file or folder
    assert not (run / "tfjs-float16").exists() or (run / "tfjs-float16" / "probes.json").is_file()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert export_main(["full", "--models", str(models), "--static-site", ""]) == 0
    assert runs.incomplete(run) is None
