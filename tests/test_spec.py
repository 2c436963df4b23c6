"""Every kind of bad input is refused with one line naming the file and key, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from search.errors import SpecError
from search.run import main
from search.space.spec import read_yaml
from search.space.validation import load_spec
from tests.helpers import REPO, SPACES, write_space

GOOD = """\
name: tiny
task: electricity
data: {path: null, lookback: 24, horizon: 1}
model: {name: simple_rnn, hidden_size: 32, num_layers: 2}
train: {epochs: 3, batch_size: 64, optimizer: adam, lr: 0.001, weight_decay: 0.0, patience: 3, seed: 0}
search:
  metric: val_loss
  mode: min
  algorithm: optuna
  num_samples: 4
  max_concurrent: 2
  scheduler: {name: asha, grace_period: 1, reduction_factor: 2}
  resources: {cpu: 1, gpu: 0}
space:
  model.hidden_size: {choice: [32, 64, 128]}
  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
tracking: {uri: sqlite:///mlflow.db, experiment: tiny}
"""


def refusal(tmp_path, text: str, overrides=()) -> str:
    path = write_space(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path, list(overrides))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_good_spec_resolves_defaults(tmp_path):
    spec = load_spec(write_space(tmp_path, GOOD))
    assert spec.model == {"name": "simple_rnn", "hidden_size": 32, "num_layers": 2, "dropout": 0.0, "cell": "rnn",
                          "highway": False, "difference": False}
    assert spec.data["lookback"] == 24 and spec.data["client"] is None
    assert spec.train.momentum == 0.9
    assert spec.experiment == "tiny"


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_space_is_valid(path):
    spec = load_spec(path)
    assert spec.space, "a shipped space searches something"


@pytest.mark.parametrize("edit, expected", [
    (("train:", "train: {colour: red}\nignored:"), "unknown key"),
    (("name: tiny", "name: tiny\nextra_top: 1"), "extra_top: unknown key"),
    (("lr: 0.001", "lr: fast"), "train.lr: Input should be a valid number"),
    (("epochs: 3", "epochs: 0"), "train.epochs"),
    (("optimizer: adam", "optimizer: lbfgs"), "train.optimizer"),
    (("task: electricity", "task: weather"), "unknown task 'weather'; available:"),
    (("name: simple_rnn", "name: transformer"), "unknown model 'transformer'"),
    (("hidden_size: 32, num_layers", "hidden: 32, num_layers"), "model.hidden: unknown option of model 'simple_rnn'"),
    (("num_layers: 2}", "num_layers: two}"), "model.num_layers"),
    (("lookback: 24", "lookbak: 24"), "data.lookbak: unknown key"),
    (("path: null", "path: /nowhere/LD2011_2014.txt"), "data.path: no such file"),
    (("[1.0e-4, 1.0e-2]", "[1.0e-2, 1.0e-4]"), "space.train.lr: loguniform low 0.01 must be below high 0.0001"),
    (("[1.0e-4, 1.0e-2]", "[0, 1.0e-2]"), "loguniform needs low above 0"),
    (("{choice: [32, 64, 128]}", "{choice: []}"), "choice needs at least one value"),
    (("{choice: [32, 64, 128]}", "{choice: [32, -1]}"), "space.model.hidden_size: value -1 is not allowed"),
    (("model.hidden_size:", "model.hidden_sise:"),
     "space.model.hidden_sise: value 32 is not allowed: model.hidden_sise: unknown option"),
    (("model.hidden_size:", "data.path:"), "cannot be searched"),
    (("metric: val_loss", "metric: val_acc"), "search.metric: 'val_acc' is not reported by a regression task"),
    (("grace_period: 1", "grace_period: 9"), "grace_period: 9 is above train.epochs 3"),
    (("algorithm: optuna", "algorithm: grid"), "search.algorithm grid takes only choice or grid"),
    (("gpu: 0}", "gpu: 1.5}"), "whole number"),
])
def test_bad_input_is_one_clear_line(tmp_path, edit, expected):
    old, new = edit
    assert old in GOOD
    message = refusal(tmp_path, GOOD.replace(old, new, 1))
    assert expected in message, message
    assert str(tmp_path / "space.yaml") in message


def test_broken_yaml_names_its_line(tmp_path):
    message = refusal(tmp_path, GOOD.replace("mode: min", "mode: [min"))
    assert "broken YAML: line" in message


@pytest.mark.parametrize("edit, expected", [
    (("mode: min", "mode: min\n  mode: max"), "duplicate key 'search.mode' at line 9 (first at line 8)"),
    (("name: tiny", "name: tiny\nname: other"), "duplicate key 'name' at line 2 (first at line 1)"),
    (("{choice: [32, 64, 128]}", "{choice: [32], choice: [64]}"),
     "duplicate key 'space.model.hidden_size.choice' at line 15, column 37 (first at line 15, column 23)"),
    (("tracking: {uri: sqlite:///mlflow.db, experiment: tiny}",
      "tracking: {uri: sqlite:///mlflow.db, experiment: tiny}\ntracking: {experiment: other}"),
     "duplicate key 'tracking' at line 18 (first at line 17)"),
])
def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path, edit, expected):
    old, new = edit
    assert old in GOOD
    message = refusal(tmp_path, GOOD.replace(old, new, 1))
    assert message == f"{tmp_path / 'space.yaml'}: {expected}; YAML would silently keep only the last"


def test_equal_keys_in_different_mappings_are_no_duplicates(tmp_path):
    raw = read_yaml(write_space(tmp_path, GOOD))  # `name` at the top and in model, `tiny` twice
    assert raw["name"] == "tiny" and raw["model"]["name"] == "simple_rnn"
    merged = write_space(tmp_path, "base: &base {lr: 1, epochs: 2}\ntrain:\n  <<: *base\n  lr: 3\n", "m.yaml")
    assert read_yaml(merged)["train"] == {"lr": 3, "epochs": 2}  # a merge key's value may be overridden


def test_a_spec_that_is_not_utf8_is_refused_naming_the_byte(tmp_path, capsys):
    path = tmp_path / "space.yaml"
    # Latin-1, as an editor on another system may save it: "é" is the one byte 0xe9.
    path.write_bytes(GOOD.replace("name: tiny", "# caf\u00e9 load\nname: tiny").encode("latin-1"))
    assert main([str(path), "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {path}: not UTF-8 text: byte 0xe9 at line 1 (byte offset 5); save the file as UTF-8"]


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.yaml")


def test_unknown_client_is_refused_at_load(tmp_path):
    from search.data import get_task

    task = get_task("electricity")
    with pytest.raises(SpecError, match="data.client: 'MT_001' is not a column of the built-in series"):
        task.load(task.Options(client="MT_001"))


@pytest.mark.parametrize("override, expected", [
    ("train.epochs=5", None),
    ("search.scheduler.grace_period=2", None),
    ("space.train.lr={uniform: [0.001, 0.01]}", None),
    ("train.epoch=5", "train.epoch: unknown key"),
    ("search.scheduler.grace=2", "search.scheduler.grace: unknown key"),
    ("train.epochs", "expected KEY=VALUE"),
    ("train.lr.x=1", "train.lr is a value, not a section"),
])
def test_set_reaches_dotted_keys_and_refuses_unknown_ones(tmp_path, override, expected):
    path = write_space(tmp_path, GOOD)
    if expected is None:
        spec = load_spec(path, [override])
        if override.startswith("train.epochs"):
            assert spec.train.epochs == 5
        elif override.startswith("search"):
            assert spec.search.scheduler.grace_period == 2
        else:
            assert spec.space["train.lr"].kind == "uniform"
    else:
        with pytest.raises(SpecError, match=expected):
            load_spec(path, [override])


def test_cli_refusal_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = write_space(tmp_path, GOOD.replace("optimizer: adam", "optimizer: lbfgs"))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "train.optimizer" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]  # no mlflow.db, no ray_results


def test_cli_exit_status_is_2_without_traceback(tmp_path):
    path = write_space(tmp_path, GOOD.replace("task: electricity", "task: weather"))
    done = subprocess.run([sys.executable, "-m", "search.run", str(path), "--set", "train.epochs=2"],
                          cwd=tmp_path, capture_output=True, text=True, env=None)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {path}: task: unknown task 'weather'; available: " + done.stderr.split("available: ")[1].strip()]
    assert not (tmp_path / "mlflow.db").exists()


def test_the_command_ends_with_its_status_its_output_and_its_atexit_handlers(tmp_path):
    """search.run ends without the interpreter's finalization (seconds of tearing torch and
    Ray down): its status, its buffered output and the atexit handlers (MLflow's temporary
    folders) still come through, and a thread still running is waited for."""
    script = (
        "import atexit, pathlib, threading, time\n"
        "from search.run import exit_without_teardown\n"
        f"atexit.register(pathlib.Path({str(tmp_path / 'atexit_ran')!r}).touch)\n"
        f"late = lambda: (time.sleep(1), pathlib.Path({str(tmp_path / 'joined')!r}).touch())\n"
        "threading.Thread(target=late).start()\n"
        "print('buffered, no newline', end='')\n"
        "exit_without_teardown(3)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (3, "buffered, no newline"), done.stderr
    assert (tmp_path / "atexit_ran").exists() and (tmp_path / "joined").exists()


def test_dry_run_prints_spec_space_and_layers(capsys):
    assert main([str(SPACES / "rnn_units.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "## Resolved spec" in out and "hidden_size: 32" in out
    assert "model.hidden_size  choice [32, 64, 128]" in out
    assert "RNN (rnn_layers.0)" in out and "[1, 48, 32]" in out
    assert "Total params: 5,377" in out


def test_help_lists_every_flag():
    done = subprocess.run([sys.executable, "-m", "search.run", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0
    flags = ("--set", "--num-samples", "--time-budget", "--smoke", "--dry-run", "--tracking-uri", "--storage",
             "--address", "--resume")
    for flag in flags:
        assert flag in done.stdout
