"""The hyperparameters in force at each epoch of a population-based trial, and their replay.

Under pbt a trial's weights may have been trained by several trials in turn: its own epochs,
then (after an exploit) another trial's weights, trained by that trial under its values,
and on. The weights' **lineage** is a row per epoch they were trained: the epoch (1, 2, ...
of the weights), the trial that trained it and that trial's own epoch, the trial whose
hyperparameters were in force (`from_trial`: the trial itself, or the one an exploit copied
them from), and the value of each mutated key. It travels in the checkpoint with the
weights, so a copied checkpoint brings its history along.

The config's reserved key `pbt` carries the bookkeeping Ray's scheduler hands a trial when
it exploits another (search/tuning/pbt.py: exploits so far, the source, the trial's own epochs),
and, for a replay, `schedule`: a lineage to train along from scratch, epoch by epoch (the
values of row n before epoch n; after the last row its values stay), as JSON text: Ray's
variant generator, which runs the re-evaluation's configs, takes a list in a config for
values to walk into (and fails naming one). The best trial's
evaluated checkpoint records its lineage as the schedule of its config, which
`search.reevaluate` trains again on fresh seeds.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import tempfile
from typing import Any

from search.record import PBT_EXPLOITS, SCHEDULE_CSV, read_param
from search.space.dotted import flatten

PBT_KEY = "pbt"  # the config's reserved key (not a section of the spec)
SCHEDULE_KEY = f"{PBT_KEY}.schedule"  # a replay's schedule, as a dotted key of SearchResult.best_config
LINEAGE = "pbt_lineage"  # the checkpoint's and each result's lineage of the trial's weights
BOOKKEEPING = ("epoch", "trial", "trial_epoch", "from_trial")


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """A config as MLflow params: the dotted keys of its sections, not the pbt bookkeeping
    (a schedule is a table: schedule.csv)."""
    return {key: value for key, value in flatten(config).items() if not key.startswith(f"{PBT_KEY}.")}


def value_of(config: dict[str, Any], key: str) -> Any:
    section, _, option = key.partition(".")
    return config[section][option]




def schedule_rows(config: dict[str, Any]) -> list[dict]:
    """The schedule a config replays ([] for none)."""
    text = (config.get(PBT_KEY) or {}).get("schedule")
    return json.loads(text) if text else []


def schedule_values(schedule: list[dict], epoch: int) -> dict[str, Any]:
    """A replayed schedule's values for `epoch` ({} without a schedule)."""
    if not schedule:
        return {}
    row = schedule[min(epoch, len(schedule)) - 1]
    return {key: value for key, value in row.items() if key not in BOOKKEEPING}


def set_values(config: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        section, _, option = key.partition(".")
        config[section][option] = value


def replay_config(config: dict[str, Any], lineage: list[dict]) -> dict[str, Any]:
    """The config that trains `lineage` again from scratch: its first epoch's values, and the
    lineage as the schedule (Ray's exploit bookkeeping left out)."""
    replay = {key: copy.deepcopy(value) for key, value in config.items() if key != PBT_KEY}
    if lineage:
        set_values(replay, {k: v for k, v in lineage[0].items() if k not in BOOKKEEPING})
    replay[PBT_KEY] = {"schedule": json.dumps(lineage)}
    return replay


def schedule_csv(lineage: list[dict]) -> str:
    out = io.StringIO()
    keys = list(dict.fromkeys(key for row in lineage for key in row))
    writer = csv.DictWriter(out, fieldnames=keys)
    writer.writeheader()
    writer.writerows(lineage)
    return out.getvalue()


def read_schedule_csv(text: str) -> list[dict]:
    """schedule.csv back as lineage rows, numbers as numbers."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        rows.append({key: value if key in ("trial", "from_trial") else read_param(value) for key, value in row.items()})
    return rows


OWNER = "pbt_trial_id"  # the checkpoint's: the trial that saved it


class ScheduleKeeper:
    """In a trial's worker: its mutated keys' values, epoch by epoch, and its weights' lineage.

    `config`: the trial's config as Tune hands it (after an exploit: the copied trial's values,
    perturbed, and the pbt bookkeeping); `keys`: the keys that may change (pbt's mutate).
    """

    def __init__(self, config: dict[str, Any], keys: list[str], trial_id: str):
        self.config, self.keys, self.trial_id = config, list(keys), trial_id
        self.bookkeeping = dict(config.get(PBT_KEY) or {})
        self.lineage: list[dict] = []

    def continue_from(self, saved: dict[str, Any], trial) -> bool:
        """After `trial` loaded the checkpoint `saved`: its lineage, and the config's values on
        the optimizer. True when the checkpoint is the trial's own; False after an exploit
        (another trial's), when the trial's own epoch count goes on from where it stood."""
        self.lineage = [dict(row) for row in saved.get(LINEAGE, [])]
        own = saved.get(OWNER, self.trial_id) == self.trial_id
        if not own:
            trial.state.epoch = int(self.bookkeeping["trial_epoch"])
        trial.set_hyperparameters({key: value_of(self.config, key) for key in self.keys})
        return own

    def after_epoch(self, trial, metrics: dict[str, Any]) -> None:
        """Records the epoch just trained; its values (and the exploits so far) join its metrics."""
        values = {key: trial.value_of(key) for key in self.keys}
        self.lineage.append({"epoch": len(self.lineage) + 1, "trial": self.trial_id, "trial_epoch": trial.state.epoch,
                             "from_trial": self.bookkeeping.get("source", self.trial_id), **values})
        metrics.update(values)
        if "schedule" not in self.bookkeeping:  # a trial of the population, not a replay
            metrics[PBT_EXPLOITS] = int(self.bookkeeping.get("exploits", 0))

    def saved(self) -> dict[str, Any]:
        return {OWNER: self.trial_id, LINEAGE: [dict(row) for row in self.lineage]}


def lineage_at(history: list[dict], row: dict) -> list[dict] | None:
    """The lineage of the weights of `row`, an epoch of a trial's `history`: its own, or, for a row
    read back from MLflow when a search resumed, a later row's cut back by the epochs between
    them, if no exploit came in between (each epoch then added one row); None when unknown."""
    if row.get(LINEAGE):
        return [dict(r) for r in row[LINEAGE]]
    later = [r for r in history if r["epoch"] > row["epoch"] and r.get(LINEAGE)]
    if not later or later[0].get(PBT_EXPLOITS) != row.get(PBT_EXPLOITS):
        return None
    cut = len(later[0][LINEAGE]) - (later[0]["epoch"] - row["epoch"])
    return [dict(r) for r in later[0][LINEAGE][:cut]] if cut > 0 else None


def best_lineage(client, trial_run) -> list[dict]:
    """The lineage of a trial's best checkpoint (the one evaluated): from its history, or, for a
    trial that ended before its search was resumed, from its run's schedule.csv."""
    found = lineage_at(trial_run.history, trial_run.best) if trial_run.best else None
    if found:
        return found
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(trial_run.run_id, SCHEDULE_CSV, folder)
        except (MlflowException, OSError):
            return []
        with open(path, encoding="utf-8") as handle:
            return read_schedule_csv(handle.read())


def replay_of(client, trial_run) -> dict[str, Any]:
    """The config that trains a pbt trial's best checkpoint's schedule again from scratch."""
    return replay_config(trial_run.config, best_lineage(client, trial_run))
