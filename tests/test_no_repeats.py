"""The searcher wrapper that keeps Optuna from training one configuration twice."""

from __future__ import annotations

import optuna
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from search.tuning.no_repeats import NoRepeats, config_key

SPACE = {"model": {"hidden_size": tune.choice([64, 128])},
         "train": {"optimizer": tune.choice(["adam", "adagrad"]), "lr": tune.choice([0.001, 0.01])}}


def searcher(seed: int = 0) -> NoRepeats:
    inner = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))
    wrapped = NoRepeats(inner)
    assert wrapped.set_search_properties("val_acc", "max", SPACE)
    return wrapped


def run_trials(wrapped: NoRepeats, ids: range) -> list[str]:
    keys = []
    for i in ids:
        config = wrapped.suggest(f"t{i}")
        keys.append(config_key(config))
        wrapped.on_trial_result(f"t{i}", {"val_acc": 0.5, "training_iteration": 1})
        wrapped.on_trial_complete(f"t{i}", {"val_acc": 0.5 + 0.01 * i})
    return keys


def test_eight_trials_cover_the_eight_combinations():
    plain = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0))
    plain.set_search_properties("val_acc", "max", SPACE)
    plain_keys = {config_key(plain.suggest(f"p{i}")) for i in range(8)}
    assert len(plain_keys) < 8  # Optuna alone repeats itself on this seed

    wrapped = searcher()
    first_eight = run_trials(wrapped, range(8))
    assert len(set(first_eight)) == 8
    assert wrapped.repeats_skipped > 0
    # The space is exhausted: a ninth trial repeats one rather than stalling the search.
    assert run_trials(wrapped, range(8, 9))[0] in first_eight


def test_state_survives_a_checkpoint(tmp_path):
    # What Tune does when it checkpoints and restores a search: the wrapper's state and the
    # wrapped OptunaSearch's own file.
    first = searcher()
    seen = run_trials(first, range(4))
    state = first.get_state()
    first.searcher.save_to_dir(str(tmp_path))

    resumed = NoRepeats(OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0)))
    resumed.set_state(state)
    resumed.searcher.restore_from_dir(str(tmp_path))
    later = run_trials(resumed, range(4, 8))
    assert len(set(seen + later)) == 8
    assert len(resumed.searcher._ot_study.trials) >= 8  # Optuna's history came back with it
