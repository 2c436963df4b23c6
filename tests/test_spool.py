"""The record's spool and its writer on a real SQLite store: writes return at once while the
store is locked, reach it in order once it is free, and a spool left by a dead driver is
written later without a run created twice."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from search import record
from search.tracking.record_writer import SpooledClient
from search.tracking.spool import Spool, is_local_id

# How long the test holds the store locked, as another search's long write would: past the
# 20 s that MLflow's SQLite store waits for a lock (busy_timeout) before it gives up.
LOCK_S = 30


def store(tmp_path) -> tuple[str, str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment = MlflowClient(tracking_uri=uri).create_experiment("spooled")
    return uri, experiment


def hold_lock(path, seconds: float, locked: threading.Event) -> None:
    connection = sqlite3.connect(path, timeout=60)
    connection.execute("BEGIN EXCLUSIVE")
    locked.set()
    time.sleep(seconds)
    connection.rollback()
    connection.close()


@pytest.mark.slow  # it waits out the lock
def test_writes_wait_in_the_spool_while_the_store_is_locked(tmp_path, capsys):
    uri, experiment = store(tmp_path)
    client = SpooledClient(uri, str(tmp_path / "spool"))
    try:
        search_run = client.real_id(client.create_run(experiment, run_name="search").info.run_id, timeout=60)
        locked = threading.Event()
        holder = threading.Thread(target=hold_lock, args=(tmp_path / "mlflow.db", LOCK_S, locked))
        holder.start()
        locked.wait(30)
        started = time.monotonic()
        trial = client.create_run(experiment, tags={record.PARENT: search_run}, run_name="trial").info.run_id
        for epoch in (1, 2, 3):
            client.log_batch(trial, metrics=[Metric("val_loss", 1.0 / epoch, 1000 * epoch, epoch)])
        client.set_tag(trial, record.STATUS, "finished")
        client.set_terminated(trial, "FINISHED")
        assert time.monotonic() - started < LOCK_S / 2  # nothing waited for the store
        assert is_local_id(trial) and client.pending > 0
        holder.join()
        assert client.wait_until_written(timeout=120)
        real = client.real_id(trial)
        run = MlflowClient(tracking_uri=uri).get_run(real)
        assert run.info.status == "FINISHED" and run.data.tags[record.STATUS] == "finished"
        assert run.data.tags[record.SPOOL_ID] == trial and run.data.tags[record.PARENT] == search_run
        history = MlflowClient(tracking_uri=uri).get_metric_history(real, "val_loss")
        assert sorted((m.step, m.value, m.timestamp) for m in history) == \
            [(1, 1.0, 1000), (2, 0.5, 2000), (3, 1 / 3, 3000)]  # in order, original timestamps
        assert client.get_run(trial).info.run_id == real  # a read takes the spool-local id too
    finally:
        client.close()
    err = capsys.readouterr().err
    assert err.count("does not answer") == 1 and err.count("answers again") == 1


def test_a_spool_left_by_a_dead_driver_is_written_once(tmp_path):
    uri, experiment = store(tmp_path)
    folder = str(tmp_path / "spool")
    # What a driver killed mid-outage leaves: entries appended, none applied.
    spool = Spool(folder)
    for method, args, kwargs in [
        ("create_run", (), {"local_id": "spool-a", "experiment_id": experiment, "start_time": 5,
                            "tags": {record.ROLE: "trial"}, "run_name": "a"}),
        ("log_batch", ("spool-a",), {"metrics": [Metric("val_loss", 0.5, 7, 1)], "params": [], "tags": []}),
        ("set_terminated", ("spool-a",), {"status": "FINISHED", "end_time": 9}),
    ]:
        spool.append(spool.reserve(), method, args, kwargs)
    spool.close()
    # The first entry had reached MLflow just before the driver died.
    MlflowClient(tracking_uri=uri).create_run(experiment, run_name="a", tags={record.SPOOL_ID: "spool-a"})
    client = SpooledClient(uri, folder)
    try:
        assert client.wait_until_written(timeout=120)
    finally:
        client.close()
    runs = MlflowClient(tracking_uri=uri).search_runs([experiment])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].info.end_time == 9
    assert runs[0].data.metrics == {"val_loss": 0.5}
    again = SpooledClient(uri, folder)  # nothing left: a second replay writes nothing
    try:
        assert again.pending == 0
    finally:
        again.close()
