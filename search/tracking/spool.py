"""The search's MLflow record, kept in order on disk until MLflow has it.

Every write the driver makes to MLflow (a run created, a batch of metrics, a tag, an
artifact, a model registered) is appended here first, and a background writer
(search/tracking/record_writer.py) hands the entries to MLflow one by one, in order. A write
returns as soon as its entry is on disk, so trials never wait for the tracking server,
and a driver killed at any moment leaves every write it made in the spool: `--resume`
or `python -m search.sync FOLDER` hands the rest to MLflow later.

Written by hand: MLflow's client has no offline mode or write-ahead queue (W&B's
`wandb sync` is the model), and its async logging keeps its queue in memory only.

The folder (beside search_run.json in the search's Ray storage folder):
    entries     the writes, each a length-prefixed pickle of (seq, method, args, kwargs)
    applied     the seq of the last entry MLflow took
    ids.json    spool-local run ids -> MLflow run ids (a run created in an outage has none yet)
    files/SEQ/  copies of the artifacts an entry uploads, removed once MLflow has them
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import threading
import uuid
from dataclasses import dataclass
from typing import Any

SPOOL_FOLDER = "mlflow_spool"
LOCAL_ID_PREFIX = "spool-"
_HEADER = struct.Struct("<I")


@dataclass
class Entry:
    seq: int
    method: str
    args: tuple
    kwargs: dict


def spool_folder(experiment_dir: str) -> str:
    """The spool of the search whose Ray folder is `experiment_dir`. On a bucket (s3://, gs://),
    which cannot be appended to, it is kept in the folder the search started in instead."""
    if "://" in experiment_dir and not experiment_dir.startswith("file://"):
        return os.path.abspath(os.path.join(SPOOL_FOLDER, experiment_dir.rstrip("/").rsplit("/", 1)[-1]))
    return os.path.join(experiment_dir.removeprefix("file://"), SPOOL_FOLDER)


def new_local_id() -> str:
    return f"{LOCAL_ID_PREFIX}{uuid.uuid4().hex}"


def is_local_id(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(LOCAL_ID_PREFIX)


class Spool:
    """Appends entries (any thread) and reads them back in order; one process at a time."""

    def __init__(self, folder: str):
        self.folder = folder
        os.makedirs(os.path.join(folder, "files"), exist_ok=True)
        self._lock = threading.Lock()
        # Held by a writer from reserve() to append(): entries land in the order of their seqs.
        self.write_lock = threading.RLock()
        self.entries = self._read_entries()
        self.next_seq = self.entries[-1].seq + 1 if self.entries else 1
        self.applied = self._read_applied()
        self.ids: dict[str, str] = self._read_json("ids.json", {})
        self._log = open(os.path.join(folder, "entries"), "ab")

    # --- writing --------------------------------------------------------------------------
    def reserve(self) -> int:
        """The seq the next entry gets, so its files can be copied in before it is appended."""
        with self._lock:
            seq, self.next_seq = self.next_seq, self.next_seq + 1
            return seq

    def files_of(self, seq: int) -> str:
        path = os.path.join(self.folder, "files", str(seq))
        os.makedirs(path, exist_ok=True)
        return path

    def append(self, seq: int, method: str, args: tuple = (), kwargs: dict | None = None) -> Entry:
        entry = Entry(seq, method, tuple(args), dict(kwargs or {}))
        data = pickle.dumps((entry.seq, entry.method, entry.args, entry.kwargs), protocol=4)
        with self._lock:
            # One write of header and body, flushed to the OS: a killed process keeps it (the
            # kernel has it); only a machine that loses power may lose the last ones.
            self._log.write(_HEADER.pack(len(data)) + data)
            self._log.flush()
            self.entries.append(entry)
        return entry

    # --- reading back ---------------------------------------------------------------------
    def pending(self) -> list[Entry]:
        with self._lock:
            return [e for e in self.entries if e.seq > self.applied]

    def mark_applied(self, entry: Entry) -> None:
        with self._lock:
            self.applied = entry.seq
            self.entries = [e for e in self.entries if e.seq > entry.seq]
        _write_atomically(os.path.join(self.folder, "applied"), str(entry.seq))
        files = os.path.join(self.folder, "files", str(entry.seq))
        if os.path.isdir(files):
            shutil.rmtree(files, ignore_errors=True)

    def map_id(self, local: str, real: str) -> None:
        with self._lock:
            self.ids[local] = real
            text = json.dumps(self.ids)
        _write_atomically(os.path.join(self.folder, "ids.json"), text)

    def close(self) -> None:
        self._log.close()

    def _read_entries(self) -> list[Entry]:
        path = os.path.join(self.folder, "entries")
        if not os.path.exists(path):
            return []
        entries = []
        with open(path, "rb") as handle:
            data = handle.read()
        offset = 0
        while offset + _HEADER.size <= len(data):
            (size,) = _HEADER.unpack_from(data, offset)
            body = data[offset + _HEADER.size: offset + _HEADER.size + size]
            if len(body) < size:
                break  # the last entry was being written when the process died: never returned
            seq, method, args, kwargs = pickle.loads(body)
            entries.append(Entry(seq, method, args, kwargs))
            offset += _HEADER.size + size
        if offset < len(data):
            with open(path, "r+b") as handle:  # drop the torn tail, so appends follow whole entries
                handle.truncate(offset)
        return sorted(entries, key=lambda e: e.seq)

    def _read_applied(self) -> int:
        try:
            with open(os.path.join(self.folder, "applied")) as handle:
                return int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _read_json(self, name: str, default):
        try:
            with open(os.path.join(self.folder, name)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return default


def _write_atomically(path: str, text: str) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def has_pending(experiment_dir: str) -> bool:
    folder = spool_folder(experiment_dir)
    if not os.path.isdir(folder):
        return False
    spool = Spool(folder)
    try:
        return bool(spool.pending())
    finally:
        spool.close()
