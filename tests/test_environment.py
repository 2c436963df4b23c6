"""Bad input from the environment (tracking store, storage, cluster address, resources, the
trial ceiling, the command line itself) is refused like a bad spec: one `error: ...` line,
exit 2, before Ray starts and before any MLflow run exists."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading

import pytest
import ray
from mlflow.tracking import MlflowClient

from search.compare.cli import main as compare_main
from search.errors import SpecError
from search.run import main
from search.space.spec import MAX_TRIALS
from search.space.validation import load_spec
from tests.helpers import REPO, SPACES, search_and_trial_runs, write_space
from tests.test_spec import GOOD


def refused(capsys, argv, command=main) -> str:
    """Runs the command, which must refuse: exit 2, one line on stderr, Ray not started."""
    started_before = ray.is_initialized()
    assert command(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert ray.is_initialized() is started_before
    return err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def space(workdir):
    return str(write_space(workdir, GOOD))


def nothing_written(workdir, *allowed):
    assert sorted(p.name for p in workdir.iterdir()) == sorted(["space.yaml", *allowed])


# --- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    (["--num-samples", "many"], "argument --num-samples: invalid int value: 'many'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_argparse_errors_are_one_line(space, capsys, argv, expected):
    assert expected in refused(capsys, [space, *argv])


def test_compare_argparse_errors_are_one_line(workdir, capsys):
    assert "python -m search.compare: argument --top" in refused(capsys, ["--top", "x"], compare_main)
    assert "unrecognized arguments: --nope" in refused(capsys, ["--nope"], compare_main)


# --- the tracking store --------------------------------------------------------------------
def test_unsupported_scheme_is_refused_naming_the_allowed_ones(space, workdir, capsys):
    err = refused(capsys, [space, "--tracking-uri", "foo://bar"])
    assert "tracking.uri: foo://bar: scheme 'foo'" in err and "sqlite:///PATH" in err and "http(s)://" in err
    nothing_written(workdir)


def test_a_tracking_server_that_is_not_running_is_refused_at_once(space, workdir, capsys):
    uri = f"http://127.0.0.1:{closed_port()}"
    err = refused(capsys, [space, "--tracking-uri", uri])
    assert f"tracking.uri: {uri}: no MLflow server answers there (connection refused)" in err
    nothing_written(workdir)


class NotMlflow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_error(404)

    do_POST = do_GET  # MLflow searches experiments with a POST

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_mlflow_is_refused(space, workdir, capsys):
    server = http.server.HTTPServer(("127.0.0.1", 0), NotMlflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        err = refused(capsys, [space, "--tracking-uri", uri])
    finally:
        server.shutdown()
    assert "answered HTTP 404 to MLflow's API: not an MLflow tracking server" in err
    nothing_written(workdir)


def test_run_and_compare_agree_on_a_sqlite_store_in_a_missing_folder(space, workdir, capsys):
    uri = f"sqlite:///{workdir}/nowhere/mlflow.db"
    for err in (refused(capsys, [space, "--tracking-uri", uri]),
                refused(capsys, ["--tracking-uri", uri], compare_main)):
        assert f"no such folder {workdir}/nowhere; a store's folder must exist" in err
    nothing_written(workdir)


def test_compare_refuses_a_store_that_does_not_exist(workdir, capsys):
    err = refused(capsys, ["--tracking-uri", "sqlite:///mlflow.db"], compare_main)
    assert f"--tracking-uri: sqlite:///mlflow.db: no such store (no file {workdir}/mlflow.db)" in err
    uri = f"http://127.0.0.1:{closed_port()}"
    assert "connection refused" in refused(capsys, ["--tracking-uri", uri], compare_main)
    assert list(workdir.iterdir()) == []


def test_a_file_that_is_not_a_store_is_refused(space, workdir, capsys):
    (workdir / "notes.db").write_text("not a database")
    err = refused(capsys, [space, "--tracking-uri", "sqlite:///notes.db"])
    assert "notes.db is not an SQLite database" in err


# --- storage -------------------------------------------------------------------------------
@pytest.mark.parametrize("storage, expected", [
    ("/proc/x", "search.storage: /proc/x: cannot write in /proc"),
    ("space.yaml/results", "space.yaml is a file, so no folder can be made below it"),
    ("space.yaml", "space.yaml is a file; a folder is needed there"),
])
def test_unwritable_storage_is_refused_before_any_run(space, workdir, capsys, storage, expected):
    assert expected in refused(capsys, [space, "--storage", storage])
    nothing_written(workdir)  # no mlflow.db: the check comes before the store is opened
    assert search_and_trial_runs(MlflowClient(tracking_uri=f"sqlite:///{workdir}/x.db"), "tiny") == ([], [])


def test_compare_refuses_an_out_it_cannot_write(workdir, capsys):
    (workdir / "report.txt").write_text("")
    assert "--out: " in refused(capsys, ["--out", "report.txt"], compare_main)
    assert "is a file, so no folder" in refused(capsys, ["--out", "report.txt/sub"], compare_main)
    assert "cannot write in /proc" in refused(capsys, ["--out", "/proc/comparison"], compare_main)


# --- the cluster address -------------------------------------------------------------------
@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:{port}", "no Ray cluster answers there: nothing listens there (connection refused)"),
    ("ray://127.0.0.1:10001", "Ray Client (ray://) cannot run a search"),
    ("nonsense", "expected auto or HOST:PORT"),
])
def test_an_address_no_search_can_join_is_refused_at_once(space, workdir, capsys, address, expected):
    address = address.format(port=closed_port())
    err = refused(capsys, [space, "--address", address])
    assert f"--address {address}: {expected}" in err
    nothing_written(workdir)


def test_ray_client_refusal_says_what_to_run_instead(space, capsys):
    err = refused(capsys, [space, "--address", "ray://head:10001"])
    assert "ray job submit" in err and "--address auto" in err


@pytest.mark.parametrize("request_, expected", [
    ("search.resources.cpu=4096", "search.resources.cpu: a trial asks for 4096 CPU, this machine has"),
    ("search.resources.gpu=0.5", "search.resources.gpu: a trial asks for 0.5 GPU, this machine has 0"),
])
def test_a_trial_this_machine_cannot_hold_is_refused_before_ray_and_mlflow(space, workdir, request_, expected):
    """A search that would start its own Ray, in a process of its own (this one may hold the
    tests' Ray): the machine is checked first, so the refusal is all that prints, and
    neither Ray's nor MLflow's lines nor a store come before it. CUDA_VISIBLE_DEVICES hides
    any GPU, as on a machine without one."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-m", "search.run", space, "--smoke", "--set", request_],
                          cwd=workdir, env={**env, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {expected}"), done.stderr
    assert "the search's own Ray has this machine's CPUs and GPUs" in done.stderr
    nothing_written(workdir)  # no mlflow.db, no ray_results


@pytest.mark.slow
def test_a_trial_no_node_of_a_joined_ray_can_hold_is_refused(space, workdir, local_ray, capsys):
    """A Ray already running (the tests' own: 2 CPUs, 1 GPU) is checked once known: no node
    has 4096 CPUs, and no autoscaler could add one; no MLflow run is created."""
    assert main([space, "--smoke", "--set", "search.resources.cpu=4096"]) == 2
    lines = capsys.readouterr().err.splitlines()  # the scheduler's warning before it
    err = lines[-1]
    assert err.startswith("error: ") and sum(line.startswith("error:") for line in lines) == 1
    assert ray.is_initialized()  # the caller's Ray stays up
    assert "search.resources.cpu: a trial asks for 4096 CPU, the largest of the cluster's 1 node(s) has 2" in err
    assert "no autoscaler can add a node" in err
    assert search_and_trial_runs(MlflowClient(tracking_uri="sqlite:///mlflow.db"), "tiny") == ([], [])


# --- the space: types and size -------------------------------------------------------------
@pytest.mark.parametrize("dimension, expected", [
    ("{quniform: [32, 128, 32]}", "quniform proposes floats, but model.hidden_size takes int; use randint"),
    ("{uniform: [32, 128]}", "uniform proposes floats, but model.hidden_size takes int"),
    ("{choice: [32, 64.0]}", "choice value 64.0 is a float, but model.hidden_size takes int; write it as 64"),
])
def test_a_float_distribution_over_an_integer_option_is_refused(workdir, dimension, expected):
    path = write_space(workdir, GOOD)
    with pytest.raises(SpecError, match=expected):
        load_spec(path, [f"space.model.hidden_size={dimension}"])


def test_integer_values_for_a_float_option_and_randint_for_an_int_pass(workdir):
    path = write_space(workdir, GOOD)
    spec = load_spec(path, ["space.train.lr={choice: [1, 0.01]}", "space.model.hidden_size={randint: [16, 64]}"])
    assert spec.space["model.hidden_size"].kind == "randint"


def test_every_shipped_space_passes_the_type_check():
    for path in SPACES.glob("*.yaml"):
        load_spec(path)


def test_a_search_above_the_ceiling_is_refused_naming_the_key(space, workdir, capsys):
    err = refused(capsys, [space, "--num-samples", "1000000000"])
    assert f"search.num_samples: 1,000,000,000 trials is above the ceiling of {MAX_TRIALS:,}" in err
    grid = ["--set", "search.algorithm=random", "--set", "space.train.lr={grid: [0.1, 0.01, 0.001]}",
            "--num-samples", "4000"]
    assert "4,000 (12,000 with the grid's combinations) trials" in refused(capsys, [space, *grid])
    nothing_written(workdir)


def test_the_dry_run_says_how_many_trial_epochs_at_most(space, capsys):
    assert main([space, "--dry-run", "--set", "search.reevaluate={top_k: 2, seeds: 3}"]) == 0
    out = capsys.readouterr().out
    assert "at most 4 trials x 3 epochs + re-evaluation 2 x 3 seeds x 3 epochs = 30 trial-epochs" in out
