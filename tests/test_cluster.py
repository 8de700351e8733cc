"""The engine (train/cluster.py: Dask distributed) running the features job (train/features.py): on a
local cluster of 2 worker processes, one worker killed with SIGKILL in the middle of the job costs only
its task, which is run again; the features hold every picture exactly once, equal to the ones computed
in this process; a job stopped midway and started again embeds only what had not landed."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

# CI installs the engine (.ci/run: setup.sh --cluster), so there a missing install fails; elsewhere it skips.
if os.environ.get("CI"):
    import distributed  # noqa: F401
else:
    pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # each worker process loads TensorFlow and the backbone: a minute or more

PICTURES, CHUNK = 24, 4


@pytest.fixture(scope="module")
def job(tiny_data):
    from train import data as data_lib
    from train.config import config_from_argv, make_spec

    class_names, items, _ = data_lib.discover(tiny_data, (1.0, 0.0, 0.0))
    spec, _ = make_spec(config_from_argv([]), class_names)
    return items[:PICTURES], spec


def rows_in(folder) -> list[str]:
    keys = []
    for f in sorted(folder.glob("chunk-*.npz")):
        with np.load(f) as d:
            keys += [str(k) for k in d["keys"]]
    return keys


@pytest.fixture(scope="module")
def killed_job(job, tmp_path_factory):
    """The job on 2 local workers; after the first chunk lands, the process of a worker with a task
    under way is SIGKILLed. -> (features, folder, pid killed, {chunk file: stat} landed before the kill)."""
    import psutil
    from distributed import default_client

    from train import cluster, data as data_lib, features

    items, spec = job
    folder = tmp_path_factory.mktemp("killed") / "chunks"
    killed: dict = {}

    def kill_one_busy_worker(path):
        if killed:
            return
        client = default_client()
        pids = client.run(os.getpid)
        busy = [w for w, tasks in client.processing().items() if tasks]
        assert busy, "no worker had a task under way: the job is too short to test a kill"
        killed["pid"] = pids[busy[0]]
        killed["landed"] = {f: os.stat(f) for f in folder.glob("chunk-*.npz")}
        os.kill(killed["pid"], signal.SIGKILL)

    failures = data_lib.DecodeFailures()
    out = features.embed_job(items, spec, folder, failures, cluster.Engine(workers=2, chunk=CHUNK),
                             on_landed=kill_one_busy_worker)
    assert "pid" in killed
    assert not psutil.pid_exists(killed["pid"]) or psutil.Process(killed["pid"]).status() == psutil.STATUS_ZOMBIE
    return out, folder, killed


def test_a_killed_worker_costs_only_its_task_and_every_picture_is_there_once(job, killed_job):
    from train.lite0_head import feature_key

    items, spec = job
    out, folder, killed = killed_job
    keys = {feature_key(it.path, spec) for it in items}
    assert set(out) == keys
    rows = rows_in(folder)
    assert len(rows) == len(set(rows)) == PICTURES  # every picture exactly once, over all the chunk files
    assert len(list(folder.glob("chunk-*.npz"))) == PICTURES // CHUNK
    for f, st in killed["landed"].items():  # what had landed before the kill was not done again
        assert os.stat(f).st_mtime_ns == st.st_mtime_ns and os.stat(f).st_ino == st.st_ino


def test_a_stopped_job_resumes_from_what_landed_with_the_same_features(job, killed_job, tmp_path):
    """In this process (no engine: the same tasks, one after the other): stopped after two chunks, then
    run again, it embeds only the other chunks, and every picture's features equal the cluster's."""
    from train import data as data_lib, features

    items, spec = job
    cluster_out = killed_job[0]
    folder = tmp_path / "chunks"
    landed = []

    def stop_after_two(path):
        landed.append(path)
        if len(landed) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        features.embed_job(items, spec, folder, data_lib.DecodeFailures(), None, chunk=CHUNK, on_landed=stop_after_two)
    assert len(rows_in(folder)) == 2 * CHUNK
    again = []
    out = features.embed_job(items, spec, folder, data_lib.DecodeFailures(), None, chunk=CHUNK,
                             on_landed=again.append)
    assert len(again) == PICTURES // CHUNK - 2
    rows = rows_in(folder)
    assert len(rows) == len(set(rows)) == PICTURES
    assert set(out) == set(cluster_out)
    for k in out:  # float16 in the chunk files
        np.testing.assert_allclose(out[k], cluster_out[k], rtol=1e-2, atol=1e-2)
