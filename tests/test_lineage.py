"""The data's identity: a digest stable across processes that changes with the data and the
options fixed for a search, logged as an MLflow dataset input."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import numpy as np
from mlflow.tracking import MlflowClient
from search.data import get_task

from search.run import main
from search.tracking.lineage import DataIdentity, content_digest, data_identity, log_data_input, logged_data_digest
from tests.helpers import REPO
from tests.test_fault_tolerance import interrupted_search


@dataclass
class Loaded:
    values: np.ndarray
    words: list[str]
    kinds: np.ndarray  # an object array, as the tweets task keeps


def loaded(values=(1.0, 2.0, 3.0), words=("a", "b")) -> Loaded:
    return Loaded(np.array(values, dtype=np.float32), list(words), np.array(["word", "handle"], dtype=object))


def test_content_digest_follows_the_content_not_the_objects():
    assert content_digest(loaded()) == content_digest(loaded())
    assert content_digest(loaded()) != content_digest(loaded(values=(1.0, 2.0, 3.5)))
    assert content_digest(loaded()) != content_digest(loaded(words=("a", "c")))
    # Same bytes, other dtype or shape: other data.
    assert content_digest(np.zeros(4, np.float32)) != content_digest(np.zeros(4, np.int32))
    assert content_digest(np.zeros((2, 2))) != content_digest(np.zeros(4))
    assert content_digest({"b": 1, "a": 2}) == content_digest({"a": 2, "b": 1})


def test_digest_is_the_same_in_another_process():
    code = ("import numpy as np; from search.tracking.lineage import content_digest; "
            "print(content_digest({'x': np.arange(5), 'k': np.array(['a', 'b'], dtype=object), 't': [1.5, 'z']}))")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip() for _ in range(2)}
    here = content_digest({"x": np.arange(5), "k": np.array(["a", "b"], dtype=object), "t": [1.5, "z"]})
    assert digests == {here}


def test_fixed_options_and_the_smoke_slice_change_the_identity_searched_keys_do_not():
    task = get_task("electricity")
    options = task.Options().model_dump()
    data = task.load(task.Options(**options), smoke=True)
    base = data_identity(task, data, options)
    assert len(base.digest) == 16 and base.name == "electricity"
    assert "lookback" not in base.options  # searchable: part of each trial's config instead
    assert data_identity(task, data, {**options, "lookback": options["lookback"] + 1}).digest == base.digest
    other_split = {**options, "val_fraction": options["val_fraction"] + 0.05}
    assert data_identity(task, data, other_split).digest != base.digest
    whole = task.load(task.Options(**options), smoke=False)
    assert data_identity(task, whole, options).digest != base.digest


def test_dataset_input_is_logged_and_read_back(tmp_path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run = client.create_run(client.create_experiment("lineage"))
    identity = DataIdentity("electricity", "0123456789abcdef", "built-in data", {"val_fraction": 0.15})
    assert logged_data_digest(client.get_run(run.info.run_id)) is None
    log_data_input(client, run.info.run_id, identity, "search")
    logged = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest) for d in logged] == [("electricity", "0123456789abcdef")]
    assert {t.key: t.value for t in logged[0].tags} == {"mlflow.data.context": "search"}
    assert logged_data_digest(client.get_run(run.info.run_id)) == "0123456789abcdef"


def test_resume_refuses_data_that_changed_since_the_search_started(workdir, capsys):
    uri, record = interrupted_search(workdir)
    client = MlflowClient(tracking_uri=uri)
    log_data_input(client, record.search_run_id, DataIdentity("electricity", "feedfacefeedface", "x", {}), "search")
    capsys.readouterr()
    import ray

    started_before = ray.is_initialized()  # the session's Ray, where a slow test started it
    assert main([str(workdir / "space.yaml"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--resume: the data's digest is " in err and "feedfacefeedface when the search in" in err
    assert err.count("\n") == 1
    assert ray.is_initialized() is started_before  # refused before Ray started
