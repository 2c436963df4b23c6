"""`python -m search.reproduce RUN_ID --tracking-uri URI`: one trial trained again from its record.

Everything comes from MLflow: the search run's `spec_resolved.yaml` (every default filled
in), its `smoke` param (the data's slice), the trial run's params (its whole config, the
seed among them) and its dataset input. Before anything trains, what the numbers depend
on is compared with this machine and refused (exit 2) where it differs: the data's
digest, the user's shipped modules, and, unless --allow-code-change, the platform's
version and git commit (search/tracking/capsule.py). Then the trial trains for the epochs it
logged, with the torch thread count its CPU share gave it, and each epoch's metrics are
printed beside the logged ones with a verdict: exit 0 when every one matches (on CPU to
1e-6 relative, which a CPU trial meets bit for bit; on a GPU, whose kernels may sum in
another order, to GPU_TOLERANCE), 1 naming the first that differs.

    python -m search.reproduce 3f9a...c2 --tracking-uri sqlite:///mlflow.db [--allow-code-change] [--log]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from search import record
from search.cli.cli_args import OneLineParser
from search.errors import SpecError

CPU_TOLERANCE = 1e-6  # relative
GPU_TOLERANCE = 1e-2  # relative: cuDNN's and atomics' sums in another order, grown over epochs
DIGITS = 9
REPRODUCIBLE_ROLES = (record.Role.TRIAL, record.Role.REEVALUATION)


@dataclass
class Logged:
    """What the record says of one trial."""

    run: Any  # the trial's MLflow Run
    search_run: Any
    spec: Any  # the search's Spec, as resolved when it ran
    config: dict[str, Any]
    smoke: bool
    history: dict[int, dict[str, float]]  # epoch -> compared metric -> value
    device: str


@dataclass
class Difference:
    epoch: int
    metric: str
    logged: float
    reproduced: float | None

    def describe(self) -> str:
        got = "missing" if self.reproduced is None else f"{self.reproduced:.{DIGITS}g}"
        return f"epoch {self.epoch}, {self.metric}: logged {self.logged:.{DIGITS}g}, reproduced {got}"


def compared_metrics(kind: str) -> tuple[str, ...]:
    """The per-epoch metrics a reproduction must match: all but the epoch's wall time."""
    return tuple(name for name in record.CURVES[kind] if name != record.EPOCH_TIME)


def read_logged(client, run_id: str) -> Logged:
    from mlflow.exceptions import MlflowException

    from search.space.dotted import unflatten
    from search.space.validation import validate_spec

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SpecError(f"run {run_id}: no such run in this store") from None
    role = run.data.tags.get(record.ROLE)
    if role not in REPRODUCIBLE_ROLES:
        raise SpecError(f"run {run_id}: a {role or 'non-search'} run; search.reproduce trains a trial or a "
                        "re-evaluation run again (tag search.role=trial or reevaluation)")
    search_run = client.get_run(run.data.tags[record.PARENT])
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(search_run.info.run_id, record.SPEC_RESOLVED, folder)
        except (MlflowException, OSError):
            raise SpecError(f"search run {search_run.info.run_id} has no {record.SPEC_RESOLVED}") from None
        raw = yaml.safe_load(Path(path).read_text())
    spec = validate_spec(raw, source=f"{record.SPEC_RESOLVED} of search run {search_run.info.run_id}")
    config = unflatten(run.data.params)
    history: dict[int, dict[str, float]] = {}
    for name in compared_metrics(spec.kind):
        for step, value in record.metric_history(client, run_id, name):
            history.setdefault(step, {})[name] = value
    if not history:
        raise SpecError(f"run {run_id}: no epoch was logged; nothing to reproduce")
    smoke = record.read_param(search_run.data.params.get(record.SMOKE_PARAM, "False")) is True
    return Logged(run, search_run, spec, config, smoke, dict(sorted(history.items())),
                  run.data.tags.get(record.DEVICE, "cpu"))


def check_same_code(logged: Logged, allow_code_change: bool) -> None:
    """Refuses, naming it, code that differs from what trained the trial."""
    from search.cluster.user_code import shipped_paths
    from search.tracking.capsule import code_tags, files_hash, versions
    from search.trial.preflight import user_import_paths

    tags = logged.search_run.data.tags
    recorded_hash = tags.get(record.USER_CODE_HASH)
    if recorded_hash is not None:
        now = files_hash(shipped_paths(user_import_paths(logged.spec)))
        if now != recorded_hash:
            raise SpecError(f"the user's modules ({', '.join(user_import_paths(logged.spec))}) hash to {now}, "
                            f"{recorded_hash} when the search ran: other code than trained the trial")
    if allow_code_change:
        return
    version_key = f"{record.VERSION_PREFIX}platform"
    recorded_version, version = tags.get(version_key), versions()["platform"]
    if recorded_version is not None and recorded_version != version:
        raise SpecError(f"the platform is version {version} here, {recorded_version} when the search ran "
                        "(--allow-code-change reproduces anyway)")
    recorded_commit = tags.get(record.PLATFORM_COMMIT)
    commit = code_tags().get(record.PLATFORM_COMMIT)
    if recorded_commit is not None and commit != recorded_commit:
        raise SpecError(f"the platform is at commit {commit or '(not a git checkout)'} here, {recorded_commit} "
                        "when the search ran (--allow-code-change reproduces anyway)")


def check_same_data(logged: Logged, task, loaded) -> None:
    from search.tracking.lineage import data_identity, logged_data_digest

    recorded = logged_data_digest(logged.run) or logged_data_digest(logged.search_run)
    identity = data_identity(task, loaded, logged.spec.data)
    if recorded is not None and recorded != identity.digest:
        raise SpecError(f"the data's digest is {identity.digest} here ({identity.source}), {recorded} when the "
                        "trial ran: other data than it trained on")


def relative_difference(a: float, b: float) -> float:
    if a == b:
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def train_again(logged: Logged, task, loaded) -> tuple[list[dict[str, Any]], str, int]:
    """The trial's epochs trained again: (each epoch's metrics, device, torch threads)."""
    import torch

    from search.trial.trainable import threads_for_share
    from search.trial.training import Trial

    threads = threads_for_share(logged.spec.search.resources.cpu)
    torch.set_num_threads(threads)
    gpu_share = logged.spec.search.resources.gpu if logged.device.startswith("cuda") else 0.0
    splits = task.splits(loaded, task.Options(**logged.config["data"]))
    trial = Trial(task, splits, logged.config, gpu_share=gpu_share)
    epochs = max(logged.history)
    results = []
    for metrics in trial.epochs():
        results.append(metrics)
        if metrics["epoch"] >= epochs:
            break
    return results, str(trial.device), threads


def compare(logged: Logged, results: list[dict[str, Any]], tolerance: float) -> list[Difference]:
    """Every (epoch, metric) that differs beyond `tolerance`, printed as a table meanwhile."""
    by_epoch = {int(r["epoch"]): r for r in results}
    print(f"{'epoch':>5}  {'metric':<12} {'logged':>16} {'reproduced':>16}  relative difference")
    differences = []
    for epoch, metrics in logged.history.items():
        for name, value in metrics.items():
            got = by_epoch.get(epoch, {}).get(name)
            diff = math.inf if got is None else relative_difference(value, float(got))
            shown = "missing" if got is None else f"{float(got):.{DIGITS}g}"
            print(f"{epoch:>5}  {name:<12} {value:>16.{DIGITS}g} {shown:>16}  {diff:.3g}")
            if diff > tolerance:
                differences.append(Difference(epoch, name, value, None if got is None else float(got)))
    return differences


def log_reproduction(client, logged: Logged, results: list[dict[str, Any]], verdict: str) -> str:
    """A run nested under the trial's run, tagged search.role=reproduction."""
    from mlflow.entities import Metric

    from search.space.dotted import flatten
    from search.tracking.tracker import log_params

    run = client.create_run(logged.run.info.experiment_id, run_name=f"reproduction of {logged.run.info.run_name}",
                            tags={record.ROLE: record.Role.REPRODUCTION, record.PARENT: logged.run.info.run_id,
                                  record.REPRODUCTION_VERDICT: verdict[:5000]})
    run_id = run.info.run_id
    log_params(client, run_id, flatten(logged.config))
    now = int(time.time() * 1000)
    names = compared_metrics(logged.spec.kind)
    client.log_batch(run_id, metrics=[Metric(name, float(r[name]), now, int(r["epoch"])) for r in results
                                      for name in (*names, record.EPOCH_TIME) if record.is_number(r.get(name))])
    client.set_terminated(run_id, "FINISHED")
    return run_id


def reproduce(run_id: str, tracking_uri: str, allow_code_change: bool = False, log: bool = False) -> int:
    from mlflow.tracking import MlflowClient

    from search.data import get_task
    from search.tracking.store import check_tracking_store

    check_tracking_store(tracking_uri, "--tracking-uri", must_exist=True)
    client = MlflowClient(tracking_uri=tracking_uri)
    logged = read_logged(client, run_id)
    check_same_code(logged, allow_code_change)
    task = get_task(logged.spec.task)
    loaded = task.load(task.Options(**logged.spec.data), smoke=logged.smoke)
    check_same_data(logged, task, loaded)
    name = logged.run.info.run_name
    print(f"[reproduce] trial {name} (run {run_id}) of search run {logged.search_run.info.run_id}: "
          f"{max(logged.history)} epochs as logged on {logged.device}", flush=True)
    results, device, threads = train_again(logged, task, loaded)
    on_gpu = device.startswith("cuda") or logged.device.startswith("cuda")
    tolerance = GPU_TOLERANCE if on_gpu else CPU_TOLERANCE
    print(f"[reproduce] trained again on {device}, {threads} torch thread(s)")
    differences = compare(logged, results, tolerance)
    where = "on a GPU" if on_gpu else "on CPU"
    if differences:
        verdict = f"differs {where}: first at {differences[0].describe()} (tolerance {tolerance:g} relative)"
    else:
        verdict = f"same: every logged epoch within {tolerance:g} relative ({where})"
    print(f"verdict: {verdict}")
    if log:
        print(f"[reproduce] logged as run {log_reproduction(client, logged, results, verdict)}, nested under "
              f"the trial's run")
    return 1 if differences else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m search.reproduce",
                           description="Train one logged trial again from its MLflow record and compare.",
                           epilog="Example: python -m search.reproduce 3f9ac2... --tracking-uri sqlite:///mlflow.db")
    parser.add_argument("run_id", help="the trial's MLflow run id")
    parser.add_argument("--tracking-uri", required=True, metavar="URI", help="the MLflow store that holds it")
    parser.add_argument("--allow-code-change", action="store_true",
                        help="reproduce even where the platform's version or git commit differs from the record")
    parser.add_argument("--log", action="store_true",
                        help="log the reproduction as a run nested under the trial's run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file read
    try:
        args = parse_args(argv)
        return reproduce(args.run_id, args.tracking_uri, args.allow_code_change, args.log)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return SpecError.exit_code


if __name__ == "__main__":
    sys.exit(main())
