"""The one background writer of a search's MLflow record, and the client the rest of the
code writes through (`tracker.client`, `logger.client`).

`SpooledClient` has MlflowClient's methods. Its writes (runs created, metrics, params,
tags, inputs, artifacts, run ends, and platform steps such as registering a model,
`defer`) go to the spool (search/tracking/spool.py) and return at once; `RecordWriter`, a thread,
hands them to MLflow in order. Its reads (get_run, search_runs, download_artifacts, ...)
first wait until MLflow has every write made before them, so the code reads back what it
wrote, then ask MLflow directly.

While MLflow does not answer (a server restarting, an SQLite file locked by another
search or on a full disk), the writer says so once, keeps retrying the same entry with a
growing pause, and says so again once MLflow takes it: nothing is skipped or reordered.
An entry MLflow refuses for what it is (an invalid value, a run that does not exist) is
reported and passed over, as the direct call would have failed.

A run created while MLflow is down has no MLflow id yet: it gets a spool-local one
("spool-..."), which the writer maps to the MLflow id when it creates the run, and which
the client translates wherever it is passed back. Each run the writer creates carries
its local id as a tag, so a run created just before the driver died is found again, not
created twice.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import yaml
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.tracking import MlflowClient

from search import record
from search.tracking.spool import Entry, Spool, is_local_id, new_local_id

# MLflow's HTTP client retries a failed request for minutes by default (7 retries with
# backoff), which would keep the writer from noticing an outage and saying so; the writer
# retries entries itself. A request that gets no answer at all ends after 30 s.
WRITER_HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# How long a run's creation may wait for its MLflow id while MLflow answers; past it (or at
# once during an outage) the run goes on under a spool-local id.
CREATE_WAIT_S = 2.0
FIRST_PAUSE_S, LONGEST_PAUSE_S = 1.0, 15.0
# MLflow's answers that say the entry itself is wrong: retrying would never help.
REFUSALS = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS",
                      "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "BAD_REQUEST", "INVALID_STATE",
                      "PERMISSION_DENIED", "UNAUTHENTICATED"})


def is_outage(err: BaseException) -> bool:
    """Whether MLflow could not take the write now (it may later), rather than refused it."""
    if isinstance(err, MlflowException):
        return err.error_code not in REFUSALS
    if isinstance(err, (OSError, ConnectionError, TimeoutError)):
        return True
    try:
        import sqlalchemy.exc

        if isinstance(err, sqlalchemy.exc.OperationalError):  # locked, or a full disk
            return True
    except ImportError:
        pass
    import requests

    return isinstance(err, requests.exceptions.RequestException)


class _HttpSettings:
    """The writer's HTTP settings, process-wide while any writer runs (MLflow reads them from
    the environment at each request), and what was there before, back after the last."""

    def __init__(self):
        self.lock, self.users, self.before = threading.Lock(), 0, {}

    def acquire(self) -> None:
        with self.lock:
            if self.users == 0:
                self.before = {name: os.environ.get(name) for name in WRITER_HTTP_SETTINGS}
                os.environ.update(WRITER_HTTP_SETTINGS)
            self.users += 1

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                for name, value in self.before.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value


HTTP_SETTINGS = _HttpSettings()


def say(message: str) -> None:
    print(f"[search] {message}", file=sys.stderr, flush=True)


class RecordWriter(threading.Thread):
    """Hands the spool's entries to MLflow, in order, from the first one it has not taken."""

    def __init__(self, spool: Spool, uri: str):
        super().__init__(name="mlflow-record-writer", daemon=True)
        self.spool, self.uri = spool, uri
        self.client = MlflowClient(tracking_uri=uri)
        self.changed = threading.Condition()
        self.stopping = False
        self.down_since: float | None = None  # when MLflow stopped answering, while it does not
        self.results: dict[int, Any] = {}  # seq -> what a deferred call returned
        # The first entry after a restart may have reached MLflow just before the driver died.
        self.uncertain = spool.pending()[0].seq if spool.pending() else None

    # --- the thread ---------------------------------------------------------------------------
    def run(self) -> None:
        pause = FIRST_PAUSE_S
        while True:
            with self.changed:
                pending = self.spool.pending()
                while not pending and not self.stopping:
                    self.changed.wait()
                    pending = self.spool.pending()
                if not pending:
                    return
            entry = pending[0]
            try:
                self._apply(entry)
            except Exception as err:  # noqa: BLE001 - sorted into an outage or a refusal below
                if is_outage(err):
                    if self.down_since is None:
                        self.down_since = time.monotonic()
                        say(f"warning: MLflow at {self.uri} does not answer ({_one_line(err)}); training "
                            f"goes on and the record waits in {self.spool.folder}")
                    with self.changed:
                        if self.changed.wait_for(lambda: self.stopping, timeout=pause):
                            return
                    pause = min(pause * 2, LONGEST_PAUSE_S)
                    continue
                if entry.seq != self.uncertain:  # a repeat of what MLflow took already is no news
                    say(f"warning: MLflow refused a write ({entry.method}): {_one_line(err)}")
            if self.down_since is not None:
                waited = time.monotonic() - self.down_since
                self.down_since = None
                say(f"MLflow at {self.uri} answers again after {waited:.0f} s; writing the "
                    f"{len(self.spool.pending())} records kept meanwhile")
            pause = FIRST_PAUSE_S
            self.spool.mark_applied(entry)
            with self.changed:
                self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def wait_until_written(self, timeout: float | None = None) -> bool:
        """Whether MLflow has every entry so far, waiting up to `timeout` seconds (None: for ever)."""
        with self.changed:
            return self.changed.wait_for(lambda: not self.spool.pending(), timeout=timeout)

    # --- one entry ------------------------------------------------------------------------------
    def _apply(self, entry: Entry) -> None:
        if entry.method == "create_run":  # its own local id is the one name not to translate
            self._create_run(entry, **{**entry.kwargs, "tags": self._translate(entry.kwargs["tags"])})
            return
        args, kwargs = self._translate(entry.args), self._translate(entry.kwargs)
        if entry.method == "call":
            function, *rest = args
            self.results[entry.seq] = function(self.client, *rest)
        else:
            getattr(self.client, entry.method)(*args, **kwargs)

    def _create_run(self, entry: Entry, local_id: str, experiment_id: str, start_time: int, tags: dict,
                    run_name: str | None) -> None:
        if local_id in self.spool.ids:
            return
        if entry.seq == self.uncertain:
            found = self.client.search_runs([experiment_id], f"tags.`{record.SPOOL_ID}` = '{local_id}'",
                                            max_results=1)
            if found:
                self.spool.map_id(local_id, found[0].info.run_id)
                return
        run = self.client.create_run(experiment_id, start_time=start_time, run_name=run_name,
                                     tags={**tags, record.SPOOL_ID: local_id})
        self.spool.map_id(local_id, run.info.run_id)

    def _translate(self, value):
        if is_local_id(value):
            if value not in self.spool.ids:
                raise MlflowException(f"run {value} was never created in MLflow",
                                      error_code=RESOURCE_DOES_NOT_EXIST)
            return self.spool.ids[value]
        if isinstance(value, tuple):
            return tuple(self._translate(v) for v in value)
        if isinstance(value, list):
            return [self._translate(v) for v in value]
        if isinstance(value, dict):
            return {k: self._translate(v) for k, v in value.items()}
        return value


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:300]


@dataclass
class Deferred:
    """A platform step run in the record's order (registering a model); its result once done."""

    seq: int | None
    writer: RecordWriter | None = None
    value: Any = None

    @property
    def done(self) -> bool:
        return self.writer is None or self.seq in self.writer.results

    @property
    def result(self) -> Any:
        return self.value if self.writer is None else self.writer.results.get(self.seq)


def in_order(client, function: Callable, *args) -> Deferred:
    """`function(mlflow_client, *args)` after every write made so far: through the spool where
    the client is a SpooledClient (later, by its writer), else at once."""
    if isinstance(client, SpooledClient):
        return client.defer(function, *args)
    return Deferred(None, None, function(client, *args))


def in_order_with_folder(client, function: Callable, folder: str, *args) -> Deferred:
    """As in_order, for a step that reads a local folder: the spool keeps a copy of it for the
    writer (and a restart) until the step is done; `function(mlflow_client, folder, *args)`."""
    if isinstance(client, SpooledClient):
        return client.defer_with_folder(function, folder, *args)
    return Deferred(None, None, function(client, folder, *args))


def real_run_id(client, run_id: str) -> str:
    """A run's MLflow id where the client knows it by a spool-local one (after a read, which
    waits for the writes before it, every run created so far has its MLflow id)."""
    return client.real_id(run_id, timeout=0) if isinstance(client, SpooledClient) else run_id


class SpooledClient:
    """MlflowClient's interface: writes through the spool, reads after them (module docstring)."""

    def __init__(self, uri: str, folder: str):
        self.uri = uri
        self.direct = MlflowClient(tracking_uri=uri)
        self.spool = Spool(folder)
        self.writer = RecordWriter(self.spool, uri)
        HTTP_SETTINGS.acquire()
        self.writer.start()

    # --- writes ---------------------------------------------------------------------------------
    def _append(self, method: str, *args, **kwargs) -> int:
        with self.spool.write_lock:
            seq = self.spool.reserve()
            self.spool.append(seq, method, args, kwargs)
        self.writer.wake()
        return seq

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict | None = None,
                   run_name: str | None = None) -> Run:
        local = new_local_id()
        start_time = start_time or int(time.time() * 1000)
        tags = dict(tags or {})
        self._append("create_run", local_id=local, experiment_id=experiment_id, start_time=start_time,
                     tags=tags, run_name=run_name)
        run_id = self.real_id(local, timeout=0 if self.writer.down_since else CREATE_WAIT_S)
        info = RunInfo(run_id=run_id, experiment_id=experiment_id, user_id="", status="RUNNING",
                       start_time=start_time, end_time=None, lifecycle_stage="active", run_name=run_name)
        return Run(info, RunData(tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), synchronous=None) -> None:
        if metrics or params or tags:
            self._append("log_batch", run_id, metrics=list(metrics), params=list(params), tags=list(tags))

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   **_) -> None:
        self.log_batch(run_id, metrics=[Metric(key, value, timestamp or int(time.time() * 1000), step or 0)])

    def log_param(self, run_id: str, key: str, value: Any, **_) -> None:
        self.log_batch(run_id, params=[Param(key, str(value))])

    def set_tag(self, run_id: str, key: str, value: Any, **_) -> None:
        self._append("set_tag", run_id, key, str(value))

    def delete_tag(self, run_id: str, key: str) -> None:
        self._append("delete_tag", run_id, key)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        # The end as it happened, not as late as the record reaches MLflow.
        self._append("set_terminated", run_id, status=status, end_time=end_time or int(time.time() * 1000))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self._append("update_run", run_id, status=status, name=name)

    def delete_run(self, run_id: str) -> None:
        self._append("delete_run", run_id)

    def log_inputs(self, run_id: str, datasets=None, models=None) -> None:
        self._append("log_inputs", run_id, datasets=datasets, models=models)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        with self.spool.write_lock:
            seq = self.spool.reserve()
            copy = os.path.join(self.spool.files_of(seq), os.path.basename(local_path))
            shutil.copy2(local_path, copy)
            self.spool.append(seq, "log_artifact", (run_id, copy, artifact_path))
        self.writer.wake()

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self._append_with_folder(local_dir, lambda copy: ("log_artifacts", (run_id, copy, artifact_path)))

    def _append_with_folder(self, folder: str, entry: Callable[[str], tuple[str, tuple]]) -> int:
        """An entry that reads a local folder: the spool keeps its own copy (removed once the
        entry is written), and `entry(copy)` gives the method and arguments naming it."""
        with self.spool.write_lock:
            seq = self.spool.reserve()
            copy = os.path.join(self.spool.files_of(seq), "folder")
            shutil.copytree(folder, copy)
            self.spool.append(seq, *entry(copy))
        self.writer.wake()
        return seq

    def _log_file(self, run_id: str, artifact_file: str, write: Callable[[str], None]) -> None:
        folder, name = os.path.split(artifact_file)
        with self.spool.write_lock:
            seq = self.spool.reserve()
            path = os.path.join(self.spool.files_of(seq), name)
            write(path)
            self.spool.append(seq, "log_artifact", (run_id, path, folder or None))
        self.writer.wake()

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        def write(path):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        self._log_file(run_id, artifact_file, write)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        def write(path):  # as MlflowClient.log_dict writes it
            with open(path, "w") as handle:
                if os.path.splitext(artifact_file)[1] in (".yml", ".yaml"):
                    yaml.dump(dictionary, handle, indent=2, default_flow_style=False)
                else:
                    json.dump(dictionary, handle, indent=2, default=str)
        self._log_file(run_id, artifact_file, write)

    def log_figure(self, run_id: str, figure, artifact_file: str, *, save_kwargs: dict | None = None) -> None:
        self._log_file(run_id, artifact_file, lambda path: figure.savefig(path, **(save_kwargs or {})))

    def defer(self, function: Callable, *args) -> Deferred:
        return Deferred(self._append("call", function, *args), self.writer)

    def defer_with_folder(self, function: Callable, folder: str, *args) -> Deferred:
        return Deferred(self._append_with_folder(folder, lambda copy: ("call", (function, copy, *args))),
                        self.writer)

    # --- the writer -----------------------------------------------------------------------------
    def real_id(self, run_id: str, timeout: float | None = None) -> str:
        """The MLflow id of `run_id` (a local one once the writer created the run), waiting up
        to `timeout` seconds (None: for ever); the id given while MLflow has none yet."""
        if not is_local_id(run_id):
            return run_id
        with self.writer.changed:
            self.writer.changed.wait_for(lambda: run_id in self.spool.ids, timeout=timeout)
        return self.spool.ids.get(run_id, run_id)

    def wait_until_written(self, timeout: float | None = None) -> bool:
        return self.writer.wait_until_written(timeout)

    @property
    def pending(self) -> int:
        return len(self.spool.pending())

    def close(self) -> None:
        """Stops the writer (what it has not written stays in the spool) and the HTTP settings."""
        self.writer.stop()
        self.writer.join(timeout=60)
        self.spool.close()
        HTTP_SETTINGS.release()

    # --- reads, and anything else: directly, after the writes before them -----------------------
    def __getattr__(self, name: str):
        attribute = getattr(self.direct, name)
        if not callable(attribute):
            return attribute

        def after_the_writes(*args, **kwargs):
            self.writer.wait_until_written()
            return attribute(*self.writer._translate(args), **self.writer._translate(kwargs))

        return after_the_writes
