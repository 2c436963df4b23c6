"""The training loop on the CPU: sums kept on the device give the per-step values, the
divergence check names its epoch, `train.compile` is checked and works, and GPU sharing
is reported. The GPU-only parts are in tests/test_gpu.py."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import torch

from search.cluster.mps import gpu_sharing_line, mps_daemon_running
from search.errors import SpecError
from search.space.validation import load_spec
from search.trial.gpu_memory import TrialOutOfMemory, out_of_memory_fails_the_trial
from search.trial.training import Trial, TrialDiverged
from tests.helpers import REPO, SPACES, make_trial

# 24 digits, 18 of them for training: batches of 8, 8 and 2.
SMALL_IMAGES = ["data.image_size=16", "data.limit_per_class=8", "data.augment=true",
                "train.batch_size=8", "train.grad_clip=1.0", "train.patience=null"]
SMALL_RNN = ["data.lookback=12", "model.hidden_size=8", "model.num_layers=1", "train.batch_size=256",
             "train.patience=null"]


def per_step_epoch(trial: Trial) -> dict[str, float]:
    """The epoch as a plain loop writes it: loss and correct count read back every step."""
    trial.state.model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for index in trial.epoch_order().split(trial.train_settings.batch_size):
        y, out, loss = trial.train_batch(index)
        total_loss += loss.item() * len(index)
        correct += (out.argmax(dim=1) == y).sum().item()
        seen += len(index)
    return {"train_loss": total_loss / seen, "train_acc": correct / seen}


def test_epoch_sums_kept_on_the_device_equal_the_per_step_values():
    # Augmentation and gradient clipping on, and a last batch that is smaller.
    summed = make_trial("resnet18.yaml", SMALL_IMAGES)
    summed.state.epoch = 1
    device_sums = summed.train_one_epoch()
    stepwise = make_trial("resnet18.yaml", SMALL_IMAGES)
    stepwise.state.epoch = 1
    assert device_sums == per_step_epoch(stepwise)  # exactly: float64 sums, as Python's
    for ours, theirs in zip(summed.state.model.parameters(), stepwise.state.model.parameters()):
        assert torch.equal(ours, theirs)


def test_on_the_cpu_the_splits_are_used_in_place():
    trial = make_trial("rnn_units.yaml", SMALL_RNN, smoke=True)
    assert trial.data.on_device and trial.device.type == "cpu"
    for name in ("train", "val", "test"):
        assert all(ours is theirs for ours, theirs in zip(trial.data[name], getattr(trial.splits, name)))


def test_divergence_is_caught_once_per_epoch_and_names_the_epoch():
    trial = make_trial("rnn_units.yaml", [*SMALL_RNN, "train.epochs=3", "train.optimizer=sgd", "train.lr=0.01"],
                       smoke=True)
    epochs = trial.epochs()
    assert next(epochs)["epoch"] == 1  # a sane first epoch
    for group in trial.state.optimizer.param_groups:
        group["lr"] = 1e9  # blows up during the second
    with pytest.raises(TrialDiverged, match=r"^train_loss is (nan|inf) at epoch 2$"):
        next(epochs)


def test_the_loop_adds_two_operations_per_step_and_a_gpu_step_sends_fewer_than_the_bare_loop():
    """Counted exactly with PyTorch's dispatcher (bench/step_ops.py): on a GPU each is a
    launch, and at batch 32 launches set the pace."""
    from bench.step_ops import bare_figures, trial_figures

    vgg13 = trial_figures("vgg13")
    assert vgg13["trial_loop_additions_per_step"] == 2  # the loss's slot and the predicted classes
    assert vgg13["trial_host_reads_per_step"] == 0
    assert vgg13["trial_step"] < bare_figures("vgg13", fused=False)["step"]
    assert trial_figures("simple_rnn")["trial_loop_additions_per_step"] == 1


@pytest.mark.parametrize(("optimizer", "fused"), [("adam", True), ("adamw", True), ("sgd", True),
                                                   ("adagrad", True), ("rmsprop", None)])
def test_on_a_gpu_the_optimizer_is_fused_where_pytorch_has_a_fused_kernel(optimizer, fused):
    from search.space.spec import TrainSettings
    from search.trial.training import build_optimizer

    settings = TrainSettings(**{**load_spec(SPACES / "rnn_units.yaml").base_config()["train"], "optimizer": optimizer})
    params = [torch.nn.Parameter(torch.zeros(3))]  # fused kernels exist on the CPU too, so it builds here
    assert build_optimizer(params, settings, torch.device("cuda")).defaults.get("fused") == fused
    assert not build_optimizer(params, settings, torch.device("cpu")).defaults.get("fused")


@pytest.mark.parametrize("value", ["fast", "max-autotune", True])
def test_compile_takes_only_the_listed_modes(value):
    with pytest.raises(SpecError, match=r"train\.compile: Input should be 'none', 'default' or 'reduce-overhead'"):
        load_spec(SPACES / "rnn_units.yaml", [f"train.compile={value}"])


def test_compile_is_searchable():
    spec = load_spec(SPACES / "rnn_units.yaml", ["space.train.compile={choice: [none, default]}"])
    assert spec.space["train.compile"].args == ["none", "default"]


def test_out_of_memory_becomes_a_one_line_trial_failure():
    device = torch.device("cpu")  # CUDA's own error, raised by hand: the real one is in test_gpu.py
    with pytest.raises(TrialOutOfMemory) as caught:
        with out_of_memory_fails_the_trial(device, 0.25, "at epoch 3"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has ...")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("ran out of memory on cpu at epoch 3: asked for 2.50 GiB more")
    assert isinstance(caught.value.__cause__, torch.OutOfMemoryError)  # CUDA's report stays in the traceback


def test_mps_daemon_is_found_by_its_control_socket(tmp_path):
    environ = {"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path)}
    assert not mps_daemon_running(environ)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(tmp_path / "control"))  # what nvidia-cuda-mps-control -d creates
        assert mps_daemon_running(environ)
    finally:
        server.close()


@pytest.mark.parametrize("share", [0, 1, 2])
def test_nothing_is_said_about_mps_without_shared_gpus(share):
    assert gpu_sharing_line(share) is None  # and Ray is not asked


@pytest.mark.slow
def test_mps_line_asks_each_gpu_node(local_ray):
    # The session's Ray declares one GPU and this machine runs no MPS daemon.
    line = gpu_sharing_line(0.25)
    assert line == ("[search] gpu 0.25 per trial (4 trials per GPU): NVIDIA MPS runs on 0 of 1 GPU node(s); "
                    "without it trials on one GPU take turns (docs/clusters.md: Several trials on one GPU)")


@pytest.mark.slow
def test_compiled_trial_computes_the_same_loss_and_keeps_one_shape():
    # The small RNN compiles in seconds on the CPU (its recurrent layer runs eagerly: Dynamo
    # does not trace nn.RNN); the image networks' compiled speed is in bench/gpu.py.
    import torch._dynamo

    torch._dynamo.reset()
    trial = make_trial("rnn_units.yaml", [*SMALL_RNN, "train.epochs=2", "train.compile=default"], smoke=True)
    x_all, y_all = trial.data["train"]
    assert len(y_all) % trial.train_settings.batch_size != 0  # a last smaller batch exists
    rows = trial.epoch_order()[:256]  # gathered as the loop gathers them (same strides)
    x, y = trial._inputs(x_all[rows]), y_all[rows]
    _, compiled_loss = trial.forward_and_loss(x, y)
    _, eager_loss = trial._forward_and_loss(x, y)
    assert compiled_loss.item() == pytest.approx(eager_loss.item(), rel=1e-5)
    # The last smaller batch is left out, so the compiled step never sees a second shape;
    # evaluation runs the plain model.
    with torch._dynamo.config.patch(error_on_recompile=True):
        metrics = list(trial.epochs())
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert all(torch.isfinite(torch.tensor([m["train_loss"], m["val_loss"]])).all() for m in metrics)


def test_a_series_trials_worker_imports_no_scikit_learn():
    """What a fresh trial worker of a series search imports before its first batch (the
    trainable, the task, the training loop): scikit-learn is the driver's (the scaler, the
    yardsticks) and a second of every fresh worker's start; classification trials import
    it on their first scores."""
    imported = subprocess.run([sys.executable, "-c", (
        "import sys; import search.trial.trainable, search.trial.training; from search.data import get_task; "
        "get_task('electricity'); print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert imported.stdout.strip() == "[]"
