"""The shipped Ray cluster files (cluster*.yaml at the repository root) pass Ray's own check.

`ray up` has no dry run. Its first step (ray.autoscaler._private.commands._bootstrap_config)
is prepare_config (merge the provider's defaults.yaml into the file, fill per-node-type
min/max workers; for provider `local` also build the single node type from head_ip and
worker_ips) and then validate_config (ray-schema.json plus a few cross-field rules). Both
are plain dictionary work. What `ray up` does next (autodetecting instance resources,
bootstrap_config: IAM roles, key pairs, security groups) calls the cloud, so it is not run
here; the no_network fixture makes any connection attempt fail the test.

Beyond the schema, the tests pin the facts a working cluster depends on: GPU workers that
scale from zero, the project copied and installed on every node, the Ray token shared by
all nodes, and the MLflow server on the head.
"""

from __future__ import annotations

import copy
import re
import socket
import subprocess
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_FILES = sorted(ROOT.glob("cluster*.yaml"))
PROJECT_MOUNT = "~/search-platform"
TOKEN_FILE = "~/.ray/auth_token"
# AWS's GPU instance families: G (g4dn, g5, g6, ...) and P (p3, p4d, p5, ...).
GPU_INSTANCE = re.compile(r"^[gp]\d+[a-z]*\.")
# Keys whose commands must be the same in every cluster file.
SHARED_KEYS = [
    "file_mounts", "rsync_filter", "rsync_exclude", "cluster_synced_files", "setup_commands",
    "head_setup_commands", "worker_setup_commands", "head_start_ray_commands",
    "worker_start_ray_commands",
]


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def ray_up_check(config: dict) -> dict:
    """What `ray up` runs before it touches any machine; raises on a bad config."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the cluster config check tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def aws() -> dict:
    return load(ROOT / "cluster.yaml")


def test_the_files_are_shipped():
    names = [p.name for p in CLUSTER_FILES]
    assert "cluster.yaml" in names and "cluster-onprem.yaml" in names, names


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_passes_rays_own_check_offline(path, no_network):
    prepared = ray_up_check(load(path))
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_copies_and_installs_the_project(path):
    config = load(path)
    # The repository root (where `ray up` is run), spaces/ and all, minus what git ignores.
    assert config["file_mounts"].get(PROJECT_MOUNT) == "."
    assert (ROOT / "spaces").is_dir() and (ROOT / "pyproject.toml").is_file()
    assert ".gitignore" in config["rsync_filter"]  # keeps the multi-GB .venv off the wire
    editable = re.compile(rf"pip install .*-e {PROJECT_MOUNT}\b")
    installs = [c for c in config["setup_commands"] if editable.search(c)]
    assert installs, "no setup command pip-installs the mounted project"
    pinned = re.search(r"ray\[[^\]]*\]==([\w.]+)", installs[0])
    assert pinned, "the setup command should pin Ray's version"
    assert pinned.group(1) == ray.__version__, (
        f"nodes would get Ray {pinned.group(1)} but this project runs {ray.__version__}; "
        "update the pin in every cluster*.yaml")


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_all_nodes_share_one_ray_token(path):
    config = load(path)
    # The head makes the token, then Ray copies it to each worker before the worker starts.
    assert any("ray get-auth-token --generate" in c for c in config["head_setup_commands"])
    assert TOKEN_FILE in config["cluster_synced_files"]
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands")
              for c in config[key] if "ray start" in c]
    assert len(starts) == 2
    for command in starts:
        # Without it a joining worker is refused by the head (and a head without a token
        # would start with no authentication at all).
        assert "RAY_AUTH_MODE=token ray start" in command, command


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_workers_join_the_head_and_mlflow_runs_there(path):
    config = load(path)
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    port = re.search(r"ray start --head .*--port=(\d+)", head).group(1)
    assert f"--address=$RAY_HEAD_IP:{port}" in workers
    server = re.search(r"mlflow server (.*)", head)
    assert server, "no MLflow server started on the head"
    for flag in ("--host 0.0.0.0", "--port 5000", "--backend-store-uri sqlite:///"):
        assert flag in server.group(1)


def test_cluster_files_run_the_same_commands(aws):
    for path in CLUSTER_FILES:
        other = load(path)
        for key in SHARED_KEYS:
            assert other.get(key) == aws.get(key), f"{path.name}: {key} differs from cluster.yaml"


def test_aws_head_and_gpu_workers_that_scale_from_zero(aws, no_network):
    assert aws["provider"]["type"] == "aws" and aws["provider"]["region"]
    prepared = ray_up_check(aws)
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    assert head["max_workers"] == 0 and not head["resources"].get("GPU")
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert gpu_types, "no worker type offers GPUs"
    for name, node_type in gpu_types.items():
        assert node_type["min_workers"] == 0, f"{name} should scale from zero"
        assert node_type["max_workers"] > 0
        assert GPU_INSTANCE.match(node_type["node_config"]["InstanceType"]), name
        assert node_type["resources"]["CPU"] >= 1
    # One image everywhere, so every node has the same Python.
    assert len({t["node_config"]["ImageId"] for t in types.values()}) == 1


def test_onprem_lists_the_machines(no_network):
    config = load(ROOT / "cluster-onprem.yaml")
    assert config["provider"]["type"] == "local"
    assert config["provider"]["head_ip"] and config["provider"]["worker_ips"]
    prepared = ray_up_check(config)
    (node_type,) = prepared["available_node_types"].values()
    assert node_type["max_workers"] == len(config["provider"]["worker_ips"])


# The check can fail: each broken copy of cluster.yaml is rejected.


def test_rejects_an_unknown_top_level_key(aws):
    aws["max_worker"] = 3  # a typo of max_workers
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        ray_up_check(aws)


def test_rejects_a_wrongly_typed_value(aws):
    aws["available_node_types"]["gpu_1x_a10g"]["min_workers"] = "zero"
    with pytest.raises(jsonschema.ValidationError, match="'zero' is not of type 'integer'"):
        ray_up_check(aws)


def test_rejects_a_node_type_without_resources(aws):
    del aws["available_node_types"]["gpu_1x_a10g"]["resources"]
    with pytest.raises(jsonschema.ValidationError, match="'resources' is a required property"):
        ray_up_check(aws)


def test_rejects_a_head_type_that_is_not_defined(aws):
    aws["head_node_type"] = "cpu_head"
    with pytest.raises(ValueError, match="head_node_type"):
        ray_up_check(aws)


# --- NVIDIA MPS on GPU nodes: started before Ray, stopped with it ------------------------

START_KEYS = ("head_start_ray_commands", "worker_start_ray_commands")


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_mps_starts_before_ray_and_stops_with_it(path):
    config = load(path)
    for key in START_KEYS:
        where = [next(i for i, c in enumerate(config[key]) if text in c) for text in
                 ("ray stop", "echo quit | nvidia-cuda-mps-control", "nvidia-cuda-mps-control -d", "ray start")]
        assert where == sorted(where), key


def fake_tools(folder: Path, with_gpu: bool) -> Path:
    """Stand-ins for the GPU node's tools, which this machine lacks: each logs its call."""
    tools = folder / "bin"
    tools.mkdir()
    log = folder / "calls.log"
    scripts = {"ray": f'echo "ray $*" >> {log}',
               "nvidia-cuda-mps-control": f'if [ "$1" = -d ]; then echo "mps start, log in $CUDA_MPS_LOG_DIRECTORY" '
                                          f'>> {log}; else echo "mps $(cat)" >> {log}; fi'}
    if with_gpu:
        scripts["nvidia-smi"] = "exit 0"
    for name, body in scripts.items():
        (tools / name).write_text(f"#!/bin/sh\n{body}\n")
        (tools / name).chmod(0o755)
    return log


def run_start_commands(commands: list[str], folder: Path) -> None:
    """The start commands up to `ray start`, each in its own shell as Ray's runner runs them."""
    env = {"PATH": f"{folder / 'bin'}:/usr/bin:/bin", "HOME": str(folder), "RAY_HEAD_IP": "10.0.0.1"}
    for command in commands:
        subprocess.run(["bash", "-c", command], env=env, check=True, timeout=60)
        if "ray start" in command:
            return


@pytest.mark.parametrize("key", START_KEYS)
def test_a_gpu_node_restarts_mps_around_ray(tmp_path, aws, key):
    log = fake_tools(tmp_path, with_gpu=True)
    run_start_commands(aws[key], tmp_path)
    calls = log.read_text().splitlines()
    assert calls[:3] == ["ray stop", "mps quit", f"mps start, log in {tmp_path}/nvidia-mps-log"]
    assert calls[3].startswith("ray start") and len(calls) == 4
    assert (tmp_path / "nvidia-mps-log").is_dir()


@pytest.mark.parametrize("key", START_KEYS)
def test_a_node_without_a_gpu_starts_ray_without_mps(tmp_path, aws, key):
    log = fake_tools(tmp_path, with_gpu=False)
    run_start_commands(aws[key], tmp_path)
    calls = log.read_text().splitlines()
    # Only the daemon's quit is tried (it answers that none runs); nothing starts one.
    assert calls[0] == "ray stop" and calls[-1].startswith("ray start")
    assert not any(c.startswith("mps start") for c in calls)
