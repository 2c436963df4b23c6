"""On a CUDA GPU: the memory share a trial keeps to, a trial that runs out of it failing
alone, a training loop that never waits for the GPU inside an epoch, its fused optimizer
and channels-last images, and the dry run's memory figures. No Ray and no MLflow: these
drive search.trial.training.Trial directly, so they run on a bare GPU machine
(`python -m pytest tests/test_gpu.py`)."""

from __future__ import annotations

import multiprocessing
import re
import time
import warnings

import pytest
import torch

from search.space.validation import load_spec
from search.trial import gpu_memory
from search.trial.gpu_memory import TrialOutOfMemory
from tests.helpers import SPACES, make_trial

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device on this machine: memory shares, out-of-memory failures, host syncs "
           "and the dry run's GPU figures are measured on a GPU")

# The shipped ResNet18 space as it comes: 3 digits at 32 px, 675 training images.
SMALL = ["train.patience=null", "train.epochs=1", "search.scheduler.name=none"]
# VGG13 at 64 px on every built-in digit, the whole training split (3,750) as one batch:
# its activations alone need several GiB.
HUGE_BATCH = ["data.image_size=64", "data.limit_per_class=null", "data.classes=null",
              "train.batch_size=4096", "train.epochs=1", "search.scheduler.name=none"]


@pytest.fixture(autouse=True)
def whole_gpu_again():
    yield
    torch.cuda.set_per_process_memory_fraction(1.0)
    torch.cuda.empty_cache()


def total_memory() -> int:
    return torch.cuda.get_device_properties(0).total_memory


def test_a_fractional_share_caps_the_process():
    trial = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    assert trial.device.type == "cuda" and trial.data.on_device
    with pytest.raises(torch.OutOfMemoryError):
        torch.empty(int(0.3 * total_memory()), dtype=torch.uint8, device="cuda")
    within = torch.empty(int(0.15 * total_memory()), dtype=torch.uint8, device="cuda")
    assert within.numel() > 0


def neighbour(started, go_on, results) -> None:
    """Another trial's process on the same GPU: holds memory, waits, then trains."""
    held = torch.full((256, 1024, 1024), 7, dtype=torch.uint8, device="cuda")  # 256 MiB
    started.set()
    go_on.wait(timeout=600)
    trial = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    metrics = list(trial.epochs())
    results.put((int(held.sum().item()) == 7 * held.numel(), metrics[-1]["val_loss"]))


def test_a_trial_past_its_share_fails_alone_with_the_reason():
    context = multiprocessing.get_context("spawn")
    started, go_on, results = context.Event(), context.Event(), context.Queue()
    other = context.Process(target=neighbour, args=(started, go_on, results))
    other.start()
    try:
        assert started.wait(timeout=300), "the neighbour process did not start"
        trial = make_trial("vgg13_regularization.yaml", HUGE_BATCH, gpu_share=0.02)
        with pytest.raises(TrialOutOfMemory) as caught:
            list(trial.epochs())
        message = str(caught.value)
        print(message)
        assert "\n" not in message
        assert re.match(r"ran out of GPU memory in its share \(gpu: 0\.02, [\d.]+ GiB of the GPU\) at epoch 1: "
                        r"asked for [\d.]+ [KMG]iB more with [\d.]+ GiB already held", message), message
        del trial, caught
        go_on.set()
        memory_intact, val_loss = results.get(timeout=600)
        assert memory_intact and val_loss == val_loss  # the neighbour's memory and training are unharmed
    finally:
        go_on.set()
        other.join(timeout=60)
    assert other.exitcode == 0
    # This process goes on too: the next trial (reuse_actors runs it here) trains.
    again = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    assert next(again.epochs())["epoch"] == 1


def test_a_gpu_trial_steps_with_a_fused_optimizer_and_channels_last_images():
    trial = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    assert trial.state.optimizer.defaults["fused"] is True
    images = trial.data["train"][0]
    assert images.device.type == "cuda" and images.is_contiguous(memory_format=torch.channels_last)
    metrics = next(trial.epochs())
    assert next(iter(trial.state.optimizer.state.values()))["step"].device.type == "cuda"
    assert metrics["train_loss"] > 0 and 0 <= metrics["train_acc"] <= 1


def test_no_host_sync_inside_an_epoch():
    trial = make_trial("resnet18.yaml", [*SMALL, "train.batch_size=8", "data.augment=true"], gpu_share=1.0)
    trial.state.epoch = 1
    trial.train_one_epoch()  # first-use set-up (constants made once per device, library handles)
    trial.state.epoch = 2
    steps = -(-len(trial.splits.train[1]) // 8)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trial.train_one_epoch()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]
    print(f"{len(syncs)} host syncs in {steps} steps")
    # Once per epoch: the order's copy to the GPU and reading the epoch's sums (one read).
    assert steps > 80 and len(syncs) <= 2, syncs


def test_host_memory_path_trains_the_same(monkeypatch):
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    resident = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    on_device = next(resident.epochs())
    monkeypatch.setattr(gpu_memory, "DATA_PART_OF_SHARE", 0.0)  # nothing fits: batches copied from pinned memory
    copied = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    assert resident.data.on_device and not copied.data.on_device
    assert copied.data["train"][0].device.type == "cpu"
    from_host = next(copied.epochs())
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert from_host[name] == pytest.approx(on_device[name], rel=1e-6), name


def test_dry_run_measures_the_smallest_safe_share(capsys):
    from search.cli.dry_run import print_gpu_memory_fit

    spec = load_spec(SPACES / "resnet18.yaml", ["data.image_size=64", "data.limit_per_class=null",
                                                "data.classes=null"])
    print_gpu_memory_fit(spec)
    out = capsys.readouterr().out
    print(out)
    peak = float(re.search(r"peak allocator memory: ([\d.]+) GiB", out).group(1))
    fit, share = re.search(r"(\d+) such trials fit on this GPU .* gpu: ([\d.]+)", out).groups()
    assert 0 < peak * int(fit) < total_memory() / 1024 ** 3
    assert float(share) == pytest.approx(1 / int(fit), rel=1e-3)
    # A whole trial at that share (an epoch with evaluation) stays inside it.
    trial = make_trial("resnet18.yaml", ["data.image_size=64", "data.limit_per_class=null", "data.classes=null",
                                         "train.epochs=1", "search.scheduler.name=none"], gpu_share=float(share))
    assert next(trial.epochs())["epoch"] == 1


def test_a_gpu_trial_s_own_readings_and_share_weighted_seconds():
    """NVML's readings of this process alone (not the device's), and GPU seconds at the share."""
    from search import record
    from search.trial.resource_use import TrialMeter

    trial = make_trial("resnet18.yaml", SMALL, gpu_share=0.25)
    meter = TrialMeter(0.25, on_gpu=True)
    started = time.perf_counter()
    list(trial.epochs())
    readings = meter.epoch_readings()
    elapsed = time.perf_counter() - started
    assert 0 < readings[record.TRIAL_GPU_MEMORY_MB] <= total_memory() / 2**20
    assert 0 <= readings[record.TRIAL_GPU_UTIL] <= 100
    assert 0 < readings[record.TRIAL_GPU_SECONDS] <= 0.25 * elapsed + 1
    meter.close()


def test_a_gpu_trials_costs_are_pytorchs_peak_allocation_and_synchronised_latency():
    from search.trial.costs import PeakMemory, TrialCosts

    trial = make_trial("resnet18.yaml", SMALL, gpu_share=1.0)
    memory = PeakMemory(trial.device)  # reset: the peak from here on
    measured = TrialCosts(trial, memory)
    list(trial.epochs())
    after = measured.after_epoch()
    assert after["peak_memory_mb"] == torch.cuda.max_memory_allocated() / 2 ** 20 > 0
    assert 0 < measured.latency_ms < 1000
    block = torch.empty(256 * 2 ** 20, dtype=torch.uint8, device="cuda")  # 256 MiB more, at once
    assert measured.after_epoch()["peak_memory_mb"] >= after["peak_memory_mb"] + 255
    del block
    PeakMemory(trial.device)  # the next trial in this worker starts from what is allocated now
    assert torch.cuda.max_memory_allocated() / 2 ** 20 < after["peak_memory_mb"] + 255
