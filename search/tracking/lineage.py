"""The data's identity: one digest for what a search trained and validated on.

Two searches "saw the same data" when their digests match. The digest covers what the
task loaded (the arrays, texts and split boundaries every trial cuts its splits from)
and the resolved `data:` options that are fixed for the whole search, so another file,
another `val_fraction` or `--smoke`'s slice is other data, while a searched data key
(a window length, a vocabulary size) is part of each trial's config instead.

It is logged as an MLflow dataset input (`log_data_input`) on the search run and on every
trial run, where MLflow's UI shows it and `datasets.digest` filters runs by it; warm
starts, `search.reproduce` and the champion alias compare it.

Written by hand: MLflow's own dataset classes hash a pandas or numpy object, or only a
dataset's name and source (`MetaDataset`), not a task's loaded dataclass of arrays,
token lists and split indices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

# Long enough that two different datasets never meet by chance; MLflow keeps 36 characters.
DIGEST_LENGTH = 16
# The dataset input's context tag (mlflow.data.context) on the runs: what the data was for.
SEARCH_CONTEXT, TRIAL_CONTEXT = "search", "trial"


@dataclass(frozen=True)
class DataIdentity:
    """A search's data as MLflow records it."""

    name: str  # the task's name (a user's task: its import path)
    digest: str
    source: str  # where it came from, in words: a file's path, or the package that ships it
    options: dict[str, Any]  # the fixed data options the digest covers


def content_digest(value: Any) -> str:
    """A stable hash of a task's loaded data: dataclasses, mappings, sequences, numpy arrays,
    text and numbers, walked in a fixed order. Stable across processes and machines (no
    Python `hash()`, no object addresses)."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    update = digest.update
    if value is None or isinstance(value, (bool, int, str, bytes)):
        update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, float):
        update(f"float:{value!r};".encode())
    elif isinstance(value, np.ndarray):
        update(f"ndarray:{value.dtype.str}:{value.shape};".encode())
        if value.dtype.hasobject:  # object arrays hold pointers: hash what they point to
            for item in value.ravel():
                _feed(digest, item)
        else:
            update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, np.generic):
        _feed(digest, value.item())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        update(f"dataclass:{type(value).__qualname__};".encode())
        for field in dataclasses.fields(value):
            update(f"{field.name}=".encode())
            _feed(digest, getattr(value, field.name))
    elif isinstance(value, dict):
        update(f"dict:{len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        update(f"{type(value).__name__}:{len(value)};".encode())
        for item in value:
            _feed(digest, item)
    elif hasattr(value, "to_numpy") and hasattr(value, "columns"):  # a pandas DataFrame
        _feed(digest, [list(map(str, value.columns)), [value[c].to_numpy() for c in value.columns]])
    elif hasattr(value, "to_numpy") and hasattr(value, "index"):  # a pandas Series
        _feed(digest, [str(value.name), value.index.to_numpy(), value.to_numpy()])
    elif hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        _feed(digest, value.detach().cpu().numpy())
    else:
        # A user's task may load anything picklable; pickle at a fixed protocol is the
        # best stable form there is for an unknown object.
        update(f"pickle:{type(value).__qualname__};".encode())
        update(pickle.dumps(value, protocol=4))


def fixed_data_options(task, data: dict[str, Any]) -> dict[str, Any]:
    """The data options a whole search shares: all but the ones a trial may search."""
    return {key: value for key, value in sorted(data.items()) if key not in task.searchable}


def data_identity(task, loaded: Any, data: dict[str, Any]) -> DataIdentity:
    """The identity of `loaded`, which `task` loaded with the resolved options `data`."""
    options = fixed_data_options(task, data)
    digest = hashlib.sha256()
    digest.update(content_digest(loaded).encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return DataIdentity(name=task.name, digest=digest.hexdigest()[:DIGEST_LENGTH],
                        source=_source(task, loaded, data), options=options)


def _source(task, loaded: Any, data: dict[str, Any]) -> str:
    paths = [str(v) for k, v in sorted(data.items()) if k.endswith("path") and v]
    if paths:
        return ", ".join(paths)
    described = task.describe(loaded)
    return f"built-in data of task {task.name}" + (f": {described}" if described else "")


def log_data_input(client, run_id: str, identity: DataIdentity, context: str) -> None:
    """The data as an MLflow dataset input of the run (MLflow's UI lists it under Datasets)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    source = CodeDatasetSource(tags={"source": identity.source,
                                     "options": json.dumps(identity.options, sort_keys=True, default=str)})
    dataset = MetaDataset(source=source, name=identity.name, digest=identity.digest)
    client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(),
                                                     tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])])


def logged_data_digest(run) -> str | None:
    """The digest of the data a logged run (an MLflow Run) trained on; None when it has none
    (runs logged before the platform recorded its data)."""
    inputs = getattr(run, "inputs", None)
    for dataset_input in getattr(inputs, "dataset_inputs", None) or []:
        return dataset_input.dataset.digest
    return None
