"""bench/results.json: every benchmark's latest figures, with the machine, date and commit."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        gpu = "unknown"
    return {"cores": os.cpu_count(), "gpu": gpu, "platform": platform.platform(),
            "python": platform.python_version()}


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=RESULTS.parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(name: str, figures: dict, machine_info: dict | None = None, commit_id: str | None = None,
           headline: bool = True) -> None:
    """Merge `figures` under `name`; top-level headline keys are kept beside the details
    (unless `headline` is False: a variant measured beside the headline figure).
    machine_info and commit_id: for figures measured elsewhere (bench/gpu.py --record)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("details", {})[name] = {
        **figures, "machine": machine_info or machine(), "date": datetime.date.today().isoformat(),
        "commit": commit_id or commit()}
    for key, value in figures.items():
        if headline and key in HEADLINE_KEYS:
            data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


HEADLINE_KEYS = {"overhead_ratio", "seconds_over_plain", "epoch_time_ratio",
                 "asha_epochs_fraction", "asha_best_rel_gap",
                 "successive_halving_epochs_fraction", "successive_halving_best_rel_gap",
                 "parallel_ratio_rnn", "parallel_ratio_lstm", "data_path_ratio", "warm_start_trials_ratio",
                 "pareto_params_ratio", "pbt_reeval_test_acc_mean", "asha_reeval_test_acc_mean"}
