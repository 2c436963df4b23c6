"""A searcher wrapper that never trains the same configuration twice.

Optuna's TPE starts with random proposals (its first 10 trials), and over a small
finite space (the report's 2 x 2 x 2 grid, say) random draws repeat: 8 draws from 8
combinations cover only about 5 of them. Trials are seeded, so a repeat reproduces
a known result and only burns epochs, while the combination it displaced may be the
best; so does a configuration an earlier search tried and told the searcher (a warm
start, search/tuning/warm_start.py). Neither Ray's OptunaSearch nor Optuna skips repeats, hence
this wrapper: when the searcher proposes a configuration already tried, that proposal is
marked failed (Optuna's TPE ignores failed trials) and the searcher is asked again. Once
a space is exhausted, a repeat is let through rather than stalling the search.
"""

from __future__ import annotations

import json
from typing import Any

from ray.tune.search import Searcher

from search.space.dotted import flatten

MAX_ASKS = 50  # proposals per trial before a repeat is allowed (the space is likely exhausted)


def config_key(config: dict[str, Any]) -> str:
    return json.dumps(flatten(config), sort_keys=True, default=str)


class NoRepeats(Searcher):
    def __init__(self, searcher: Searcher, max_asks: int = MAX_ASKS, known: list[dict] = ()):
        """`known`: configurations with a result already (a warm start's told trials)."""
        self.searcher, self.max_asks = searcher, max_asks
        self.tried: set[str] = {config_key(config) for config in known}
        self.inner_id: dict[str, str] = {}  # Tune's trial id -> the id the searcher knows it by
        self.repeats_skipped = 0
        self.max_concurrent = 0  # 0: no limit
        self.running: set[str] = set()  # suggested, not paused, not ended
        self.paused: set[str] = set()
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        # True: Tune's ConcurrencyLimiter then leaves the counting to this wrapper.
        self.max_concurrent = max_concurrent
        return True

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | None:
        if self.max_concurrent and len(self.running) >= self.max_concurrent:
            return None
        config = None
        for ask in range(self.max_asks):
            ask_id = trial_id if ask == 0 else f"{trial_id}-ask{ask}"
            config = self.searcher.suggest(ask_id)
            if config is None or config == Searcher.FINISHED:
                return config
            key = config_key(config)
            if key not in self.tried or ask == self.max_asks - 1:
                self.tried.add(key)
                self.inner_id[trial_id] = ask_id
                self.running.add(trial_id)
                return config
            self.searcher.on_trial_complete(ask_id, error=True)
            self.repeats_skipped += 1
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.searcher.on_trial_result(self.inner_id.get(trial_id, trial_id), result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.running.discard(trial_id)
        self.paused.discard(trial_id)
        self.searcher.on_trial_complete(self.inner_id.pop(trial_id, trial_id), result=result, error=error)

    def on_pause(self, trial_id: str) -> None:
        self.running.discard(trial_id)
        self.paused.add(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self.paused.discard(trial_id)
        self.running.add(trial_id)

    # Tune checkpoints a wrapper's state apart from the searcher it wraps (it follows
    # `.searcher`), as for its own ConcurrencyLimiter: a resumed search keeps both.
    def get_state(self) -> dict:
        return {"tried": set(self.tried), "inner_id": dict(self.inner_id),
                "repeats_skipped": self.repeats_skipped, "max_concurrent": self.max_concurrent,
                "running": set(self.running), "paused": set(self.paused)}

    def set_state(self, state: dict) -> None:
        self.tried, self.inner_id = set(state["tried"]), dict(state["inner_id"])
        self.repeats_skipped = state["repeats_skipped"]
        self.max_concurrent = state.get("max_concurrent", 0)
        # A resumed search runs again every trial that had not ended, the paused ones too.
        self.running = set(state.get("running", ())) | set(state.get("paused", ()))
        self.paused = set()
