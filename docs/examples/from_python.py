"""A search from Python: `run_search` takes what the command line takes and returns what it found.

Run it in the folder that holds it: it names gru_forecast.yaml, whose model is my_nets:TinyGRU.
"""

from search import SpecError, run_search

try:
    result = run_search("gru_forecast.yaml", overrides=["train.epochs=2"], smoke=True)
except SpecError as err:  # bad input: the one line the command line prints; nothing was started
    raise SystemExit(f"error: {err}") from None

print(result.status)            # finished | no_result | interrupted (result.exit_code: 0, 1, 130)
print(result.best_trial_id)     # "3f9a1c02"
print(result.best_config)       # the best trial's whole config, dotted, as its run's params: {"model.hidden": 64, ...}
print(result.test_metrics)      # {"test_mse": ..., "test_mae": ..., "test_rmse": ..., "test_loss": ...}
print(result.baselines)         # the yardsticks on the same test split
print(result.trials)            # the end-of-search table (a pandas DataFrame), best first
print(result.search_run_id, result.experiment_id, result.model_uri, result.registered_model)
# With search.reevaluate (otherwise None, None, {}):
print(result.reevaluation)      # a row per re-evaluated trial: seeds, values, mean, std, winner
print(result.reeval_winner_trial_id)
print(result.reeval_metrics)    # as logged on the search run: {"reeval_val_loss_mean": ..., "test_mse_std": ...}
# With several search.objectives (otherwise None): the Pareto front, a row per member
print(result.pareto)            # trial, each objective, its test metrics, selected (the member exported)
print(result.reevaluation_skipped)  # why, where a budget left too little for the re-evaluation (else None)
# With search.budget (otherwise None, {}):
print(result.budget_spent)      # "time" or "trial_epochs" when one ran out, else None
print(result.budget_used)       # {"budget_time_used_s": 1496.2, "budget_trial_epochs_used": 212.0}
# With search.warm_start (otherwise {}):
print(result.warm_start)        # {"search.warm_start_from": "3dbb4ec1...", "warm_start_told": 14, ...}
print(result.refit_metrics)     # with search.refit: {"refit_test_mse": ..., ...}; model_uri is then the refit model
print(result.champion_decision) # "champion: version 3 (test_mse ...) beats every yardstick ..." (None: no registry)
print(result.record_pending)    # writes MLflow did not take in tracking.outage_wait (exit_code 3): search.sync
raise SystemExit(result.exit_code)
