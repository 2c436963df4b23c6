"""`search.budget`: a search that ends when its time or its trial-epochs are spent.

    search:
      budget: {time: 2h, trial_epochs: 400}   # either or both

Time counts from the first trial's start (and, on `--resume`, on from what the earlier
attempts used, as the search run recorded it); trial-epochs are the epochs every trial
trained, together. Once either is spent:

- no trial starts: the search algorithm says it is finished (`next_trial`, below);
- a running trial stops at its next result, the end of the epoch it is in: a Tune
  stopper's decision (`BudgetStopper.__call__`), never a kill mid-epoch; it ends
  `budget_stopped`;
- once no trial runs, Tune ends the rest (`stop_all`): trials it created but never started
  (they never had a run), and trials paused at a rung, which end `budget_stopped`.

Why not Ray Tune's own `TuneConfig(time_budget_s=...)`: it is a stopper whose `stop_all`
ends every trial the moment time is up, mid-epoch, counts from the Tuner's start, and
knows nothing of the time a resumed search spent before.

The budget's objects reach Tune's saved state (the search algorithm, the stopper and a
callback are pickled with the Tuner): like the trial logger, they pickle as their search
run's id and come back as this driver's live Budget on `--resume`.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search import BasicVariantGenerator, SearchGenerator

from search import record
from search.errors import SpecError
from search.record import Spent
from search.space.durations import format_duration
from search.space.spec import BudgetSettings

# How often the time used is written to the search run while trials run: what a driver that
# is killed (not interrupted) loses of its accounting; a resume counts on from the record.
RECORD_EVERY_S = 10.0

_BUDGETS: weakref.WeakValueDictionary[str, Budget] = weakref.WeakValueDictionary()


def _budget_of_search_run(search_run_id: str) -> Budget:
    budget = _BUDGETS.get(search_run_id)
    if budget is None:
        raise SpecError(f"the budget of search run {search_run_id} lives only in the driver of that search; "
                        "resume a search with python -m search.run SPACE --resume")
    return budget


class Budget:
    """What one search may spend and has spent; the driver's one copy (see the module's note)."""

    def __init__(self, settings: BudgetSettings, tracker, time_before_s: float = 0.0):
        self.settings, self.tracker = settings, tracker
        self.time_before_s = time_before_s  # what earlier attempts of this search used
        self.started: float | None = None  # this attempt's clock (time.monotonic())
        self.trial_epochs: dict[str, int] = {}  # trial id -> the epochs it trained
        self.other_epochs = 0  # re-evaluation runs'
        self.spent_on: str | None = None  # record.Spent.TIME or TRIAL_EPOCHS, once it ran out
        self.stopped: set[str] = set()  # trials the budget ended at a result
        self.trials: list = []  # Tune's trials, as its last step showed them (BudgetClock)
        self.recorded_at = 0.0
        _BUDGETS[tracker.run_id] = self

    def __reduce__(self):
        return (_budget_of_search_run, (self.tracker.run_id,))

    @classmethod
    def of_resumed_search(cls, settings: BudgetSettings, tracker) -> Budget:
        """The budget of a search that goes on, with the time its search run recorded as used
        (made before Tune's saved state is restored, which refers to it)."""
        used = tracker.client.get_run(tracker.run_id).data.metrics.get(record.BUDGET_TIME_USED, 0.0)
        return cls(settings, tracker, time_before_s=used)

    def continue_after(self, logger) -> None:
        """The epochs the resumed search's trial runs hold; the clock starts now, since the
        search is under way (its trials may not start again at all)."""
        for trial_id, trial in logger.trials.items():
            self.trial_epochs[trial_id] = len(trial.history)
        self.start()

    # --- what is spent ---------------------------------------------------------------------
    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    def time_used(self) -> float:
        return self.time_before_s + (time.monotonic() - self.started if self.started is not None else 0.0)

    def epochs_used(self) -> int:
        return sum(self.trial_epochs.values()) + self.other_epochs

    def count_epoch(self, trial_id: str, epoch: Any) -> None:
        if isinstance(epoch, (int, float)):  # a continued trial reports its last epoch again: max, not sum
            self.trial_epochs[trial_id] = max(self.trial_epochs.get(trial_id, 0), int(epoch))

    def spent(self) -> str | None:
        """Which budget ran out (it stays out), or None."""
        if self.spent_on is None:
            if self.settings.time is not None and self.time_used() >= self.settings.time:
                self.spent_on = Spent.TIME
            elif self.settings.trial_epochs is not None and self.epochs_used() >= self.settings.trial_epochs:
                self.spent_on = Spent.TRIAL_EPOCHS
        return self.spent_on

    def any_trial_running(self) -> bool:
        return any(trial.status == Trial.RUNNING for trial in self.trials)

    # --- the record ------------------------------------------------------------------------
    def used_metrics(self) -> dict[str, float]:
        return {record.BUDGET_TIME_USED: self.time_used(), record.BUDGET_EPOCHS_USED: self.epochs_used()}

    def record(self, every: float = 0.0) -> None:
        """The use so far on the search run (at most once per `every` seconds)."""
        now = time.monotonic()
        if now - self.recorded_at >= every:
            self.recorded_at = now
            self.tracker.log_metrics(self.used_metrics())

    def record_end(self) -> None:
        self.record()
        if self.spent() is not None:
            self.tracker.client.set_tag(self.tracker.run_id, record.BUDGET_SPENT, self.spent_on)

    def describe_use(self) -> str:
        """"budget: 14m52s of 15m used, 212 trial-epochs of 400; the time ran out"."""
        parts = []
        if self.settings.time is not None:
            parts.append(f"{format_duration(self.time_used())} of {format_duration(self.settings.time)} used")
        if self.settings.trial_epochs is not None:
            parts.append(f"{self.epochs_used():,} trial-epochs of {self.settings.trial_epochs:,}")
        ended = {Spent.TIME: "the time ran out", Spent.TRIAL_EPOCHS: "the trial-epochs ran out"}.get(
            self.spent_on, "not spent")
        return f"budget: {', '.join(parts)}; {ended}"

    # --- what is left ----------------------------------------------------------------------
    def reevaluation_skip_reason(self, epochs: int, seconds_per_epoch: list[float], at_once: int) -> str | None:
        """Why a re-evaluation of len(seconds_per_epoch) runs of `epochs` epochs each does not fit
        in what is left; None when it fits. The time is estimated from the measured epoch times of
        the trials whose configurations it trains again, `at_once` runs at a time."""
        runs = len(seconds_per_epoch)
        if self.settings.trial_epochs is not None:
            left = self.settings.trial_epochs - self.epochs_used()
            if runs * epochs > left:
                return (f"it needs up to {runs} runs x {epochs} epochs = {runs * epochs:,} trial-epochs, "
                        f"{max(0, left):,} of the budget are left")
        if self.settings.time is not None:
            needed = sum(seconds * epochs for seconds in seconds_per_epoch) / max(1, min(at_once, runs))
            left = self.settings.time - self.time_used()
            if needed > left:
                return (f"it needs about {format_duration(needed)} ({runs} runs x {epochs} epochs at the "
                        f"trials' measured epoch times, {min(at_once, runs)} at a time), "
                        f"{format_duration(max(0.0, left))} of the budget are left")
        return None


def epoch_seconds(history: list[dict]) -> list[float]:
    return [row[record.EPOCH_TIME] for row in history if record.is_number(row.get(record.EPOCH_TIME))]


class BudgetStopper(tune.Stopper):
    """A trial stops at its first result after the budget ran out; the search once none runs."""

    def __init__(self, budget: Budget):
        self.budget = budget

    def __call__(self, trial_id: str, result: dict) -> bool:
        self.budget.count_epoch(trial_id, result.get("epoch"))
        if self.budget.spent() is None:
            return False
        self.budget.stopped.add(trial_id)
        return True

    def stop_all(self) -> bool:
        # Tune ends every trial not yet ended when this says so: only once no trial runs an epoch.
        return self.budget.spent() is not None and not self.budget.any_trial_running()


class BudgetClock(tune.Callback):
    """Starts the clock at the first trial's start; keeps Tune's trials in view for stop_all;
    writes the use so far to the search run now and then, so a resume counts on from it."""

    def __init__(self, budget: Budget):
        self.budget = budget

    def on_step_begin(self, iteration, trials, **info):
        self.budget.trials = trials

    def on_trial_start(self, iteration, trials, trial, **info):
        self.budget.start()

    def on_step_end(self, iteration, trials, **info):
        self.budget.trials = trials
        if self.budget.started is not None:
            self.budget.record(every=RECORD_EVERY_S)


class _EndsWhenSpent:
    """A search algorithm that starts no trial once the budget is spent: it says it is finished."""

    budget: Budget | None

    def next_trial(self):
        if self.budget is not None and self.budget.spent() is not None:
            self.set_finished()
            return None
        return super().next_trial()


class BudgetedSearchGenerator(_EndsWhenSpent, SearchGenerator):
    """Tune's wrapper around a Searcher (Optuna), which ends with the budget."""

    def __init__(self, searcher, budget: Budget | None):
        super().__init__(searcher)
        self.budget = budget


class BudgetedVariantGenerator(_EndsWhenSpent, BasicVariantGenerator):
    """Tune's random and grid search, which ends with the budget."""

    def __init__(self, budget: Budget | None, **kwargs):
        super().__init__(**kwargs)
        self.budget = budget


def budget_parts(budget: Budget | None) -> tuple[list, Any]:
    """The callbacks and the stopper a budgeted search's Tuner takes (none without a budget)."""
    if budget is None:
        return [], None
    return [BudgetClock(budget)], BudgetStopper(budget)
