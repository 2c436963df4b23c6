"""The best model as MLflow 3 logs one, made by the record's writer on a real SQLite store:
a LoggedModel of the search run, READY, registered by its model URI; the spool keeps the
saved files until it is done, and a step tried again finishes what an earlier try began
rather than making a second model."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import torch
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from search.record import BEST_MODEL
from search.tracking.mlflow_internals import use_tracking_uri
from search.tracking.model_export import log_and_register
from search.tracking.record_writer import SpooledClient, in_order_with_folder


def saved_model(folder) -> str:
    path = str(folder / "saved")
    torch.manual_seed(0)
    mlflow.pytorch.save_model(torch.nn.Linear(3, 1), path, serialization_format="pickle",
                              input_example=np.zeros((2, 3), dtype=np.float32))
    return path


def test_the_writer_logs_the_model_and_registers_it_by_its_model_uri(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    direct = MlflowClient(tracking_uri=uri)
    experiment = direct.create_experiment("forecast")
    client = SpooledClient(uri, str(tmp_path / "spool"))
    try:
        run_id = client.create_run(experiment, run_name="search").info.run_id
        saved = saved_model(tmp_path)
        registration = in_order_with_folder(client, log_and_register, saved, run_id, "forecast", "test_mse",
                                            0.25, "0123456789abcdef", {})
        shutil.rmtree(saved)  # the spool holds its own copy until the writer is done with it
        assert client.wait_until_written(timeout=120)
        run_id = client.real_id(run_id)
    finally:
        client.close()

    assert registration.result["registered"] == "models:/forecast/1"
    (logged,) = direct.search_logged_models(experiment_ids=[experiment])
    assert (logged.name, logged.source_run_id, logged.status) == (BEST_MODEL, run_id, LoggedModelStatus.READY)
    assert [o.model_id for o in direct.get_run(run_id).outputs.model_outputs] == [logged.model_id]
    version = direct.get_model_version("forecast", "1")
    assert (version.source, version.run_id) == (f"models:/{logged.model_id}", run_id)
    assert str(direct.get_model_version_by_alias("forecast", "challenger").version) == "1"
    for model_uri in (f"runs:/{run_id}/{BEST_MODEL}", "models:/forecast/1", f"models:/{logged.model_id}"):
        with use_tracking_uri(uri):
            net = mlflow.pytorch.load_model(model_uri)
        torch.manual_seed(0)
        assert torch.equal(net.weight.detach(), torch.nn.Linear(3, 1).weight.detach()), model_uri
    assert not list((tmp_path / "spool" / "files").glob("*")), "the spool's copy outlived the write"


def test_a_step_tried_again_finishes_the_model_an_earlier_try_began(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("forecast")
    run_id = client.create_run(experiment).info.run_id
    # An earlier try created the model and stopped (an outage, a killed driver) before its files.
    begun = client.create_logged_model(experiment, name=BEST_MODEL, source_run_id=run_id)
    assert begun.status == LoggedModelStatus.PENDING
    saved = saved_model(tmp_path)
    first = log_and_register(client, saved, run_id, "forecast", "test_mse", 0.25, None, {})
    again = log_and_register(client, saved, run_id, "forecast", "test_mse", 0.25, None, {})

    assert first["registered"] == again["registered"] == "models:/forecast/1"
    (logged,) = client.search_logged_models(experiment_ids=[experiment])
    assert logged.model_id == begun.model_id and logged.status == LoggedModelStatus.READY
    assert len(client.search_model_versions("name = 'forecast'")) == 1
    assert len(client.get_run(run_id).outputs.model_outputs) == 1
