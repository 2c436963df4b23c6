"""Shared fixtures: a real local Ray for the end-to-end tests, isolated MLflow stores."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def local_ray():
    """One real local Ray cluster for the whole session (starting one costs seconds).

    It declares one logical GPU, so fractional GPU shares are scheduled as on a GPU
    machine; with no CUDA device the trials themselves run on the CPU.
    """
    import ray

    from search.cluster.ray_cluster import own_ray_settings

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # address=local: always a Ray of its own, never a cluster another test left running.
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING",
             **own_ray_settings("local"))
    yield ray
    ray.shutdown()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Each test runs in its own folder: its mlflow.db and ray_results stay there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path
