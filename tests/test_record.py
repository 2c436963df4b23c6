"""search/record.py, the names of the MLflow record: documented, and read back as written."""

from __future__ import annotations

import re

import pytest

from search import record
from search.record import LeftOut, Role, Spent, Status
from tests.helpers import REPO


def documented_names() -> set[str]:
    """What the docs' "Results in MLflow" page (docs/results.md) writes in backticks, as names:
    `a=b` gives a and b, `best_checkpoint/` gives best_checkpoint; `space.<key>` and `baseline_*`
    name families of names, and give their prefixes space. and baseline_."""
    section = (REPO / "docs" / "results.md").read_text()
    assert section.startswith("# Results in MLflow")
    section = re.sub(r"```.*?```|``.*?``", "", section, flags=re.DOTALL)  # code blocks, filters
    names = set()
    for token in re.findall(r"`([^`]+)`", section):
        for part in token.split("="):
            names.add(re.sub(r"(<[^<>]*>|\*)$", "", part.strip().rstrip("/")))
    return names


RECORD_NAMES = {  # every name record.py defines for the record, by what it is
    "tags": [record.ROLE, record.PARENT, record.STATUS, record.ERROR, record.TASK, record.MODEL, record.KIND,
             record.TRIAL_ID, record.RAY_RUN_NAME, record.RAY_EXPERIMENT_DIR, record.RAY_NODE_ID, record.DEVICE,
             record.COMPARED, record.CONFIG_OF, record.BUDGET_SPENT, record.REEVAL_SKIPPED, record.WARM_START_FROM,
             record.PLATFORM_COMMIT, record.PLATFORM_DIRTY, record.CODE_COMMIT,
             record.CODE_DIRTY, record.USER_CODE_HASH, record.VERSION_PREFIX, record.DEVICE_CPU, record.DEVICE_GPU,
             record.DEVICE_GPU_COUNT, record.DEVICE_CUDA, record.REPRODUCTION_VERDICT, record.TEST_METRIC,
             record.TEST_VALUE, record.CHAMPION_DECISION, record.SPOOL_ID, record.PARETO, record.FEASIBLE,
             record.VIOLATED],
    "roles": [Role.SEARCH, Role.TRIAL, Role.REEVALUATION, Role.COMPARISON, Role.REPRODUCTION, Role.REFIT],
    "statuses": [Status.RUNNING, Status.FINISHED, Status.EARLY_STOPPED, Status.ASHA_STOPPED, Status.PAUSED,
                 Status.PROMOTED, Status.STOPPED_AT_RUNG, Status.FAILED, Status.INCOMPLETE, Status.INTERRUPTED,
                 Status.BUDGET_STOPPED, Status.INFEASIBLE],
    "budgets spent": [Spent.TIME, Spent.TRIAL_EPOCHS],
    "reasons left out": list(LeftOut.ALL),
    "metrics": [*record.ALL_CURVES, *{m for names in record.TEST_METRICS.values() for m in names},
                record.BASELINE_PREFIX, record.BEST_SELECTION_VALUE, record.SEARCH_WALL_TIME, record.TRIALS_FAILED,
                record.REEVAL_PREFIX, record.REEVAL_WINNER_CHANGED, record.BUDGET_TIME_USED,
                record.BUDGET_EPOCHS_USED, record.WARM_START_PREFIX, record.WARM_START_TOLD, record.WARM_START_RERUN,
                record.WARM_START_LEFT_OUT, record.left_out_metric(""), *record.RESOURCE_CURVES,
                *record.RESOURCE_TOTALS, record.SEARCH_CPU_HOURS, record.SEARCH_GPU_HOURS, record.REFIT_PREFIX,
                *record.COSTS, record.PARETO_SIZE, record.PBT_EXPLOITS],
    "params": [record.SETTINGS_PREFIX, record.SEARCH_METRIC, record.SEARCH_MODE, record.TASK_PARAM,
               record.MODEL_NAME_PARAM, record.SMOKE_PARAM, record.REEVAL_WINNER_TRIAL_ID,
               record.MODEL_PARAMS, record.SPACE_PREFIX, record.BEST_PREFIX, record.BEST_TRIAL_ID,
               record.COMPARED_RUN_PREFIX, record.SEARCH_OBJECTIVES],
    "artifacts": [record.SPEC, record.SPEC_RESOLVED, record.TRIALS_CSV, record.TRIALS_MD, record.CONFUSION_TEST,
                  record.LEARNING_CURVE, record.CONFUSION_VAL, record.BEST_CHECKPOINT, record.ERROR_TEXT,
                  record.ARTIFACT_ERROR_TEXT, record.CONFUSION_TEST_JSON, record.CONFUSION_VAL_JSON,
                  record.BEST_MODEL, record.PREPROCESSING, record.PIP_FREEZE, record.PARETO_CSV, record.PARETO_PNG,
                  record.SCHEDULE_CSV],
    "aliases": [record.CHALLENGER, record.CHAMPION],
    "experiments": [record.COMPARISON_EXPERIMENT, record.EXPERIMENT_KIND, record.TRAINING_EXPERIMENT],
}


@pytest.mark.parametrize("what", sorted(RECORD_NAMES))
def test_the_results_page_documents_every_name(what):
    missing = [name for name in RECORD_NAMES[what] if name not in documented_names()]
    assert not missing, f"docs/results.md ('Results in MLflow') does not name these {what}: {missing}"


def test_every_name_of_the_record_is_checked_against_the_docs():
    # A name added to record.py must be added above (and so to docs/results.md) too.
    checked = {name for names in RECORD_NAMES.values() for name in names}
    constants = {f"{prefix}{key}": value for prefix, namespace in (("", record), ("Role.", Role), ("Status.", Status),
                                                                  ("Spent.", Spent), ("LeftOut.", LeftOut))
                 for key, value in vars(namespace).items() if key.isupper() and isinstance(value, str)}
    assert {key for key, value in constants.items() if value not in checked} == set()


def test_completed_and_ended_statuses():
    rung = Status.stopped_at_rung(3)
    assert rung == "stopped_at_rung_3"
    statuses = [*RECORD_NAMES["statuses"], rung]
    assert {s for s in statuses if record.is_completed(s)} == \
        {Status.FINISHED, Status.EARLY_STOPPED, Status.ASHA_STOPPED, Status.STOPPED_AT_RUNG, rung,
         Status.BUDGET_STOPPED}
    assert {s for s in statuses if record.has_ended(s)} == \
        {Status.FINISHED, Status.EARLY_STOPPED, Status.ASHA_STOPPED, Status.STOPPED_AT_RUNG, rung, Status.FAILED,
         Status.INCOMPLETE, Status.BUDGET_STOPPED, Status.INFEASIBLE}
    assert {s for s in statuses if s in record.LIVE} == {Status.RUNNING, Status.PAUSED, Status.PROMOTED}
    assert not record.is_completed(None) and not record.has_ended(None)


@pytest.mark.parametrize("kind, args", [
    ("loguniform", [0.0001, 0.01]), ("choice", ["adam", "sgd"]), ("choice", [False, True]),
    ("choice", [0.0, 1e-05, None]), ("quniform", [1, 10, 0.5]), ("choice", [[64, 32], [128]]),
])
def test_a_space_param_reads_back_as_written(kind, args):
    text = record.space_param(kind, args)
    assert record.read_space_param(text) == (kind, args)
    # Searches before the JSON form logged "kind [args]" with Python's repr of the list.
    assert record.read_space_param(f"{kind} {args!r}") == (kind, args)


def test_a_conditional_space_param_reads_back_with_its_when():
    when = {"train.optimizer": ["sgd", "rmsprop"]}
    text = record.space_param("uniform", [0.5, 0.99], when)
    assert record.read_space_param(text) == ("uniform", [0.5, 0.99])
    assert record.read_space_when(text) == when
    assert record.read_space_when(record.space_param("uniform", [0.5, 0.99])) == {}
    assert record.read_space_when("loguniform [0.0001, 0.01]") == {}  # the text form of earlier searches


def test_a_space_param_cut_short_is_unknown():
    assert record.read_space_param(record.space_param("choice", list(range(100)))[:50]) == ("unknown", [])


@pytest.mark.parametrize("value", [0.001, 1e-05, 64, True, False, None, [64, 32], "adam", "relu6"])
def test_a_param_reads_back_as_the_value_written(value):
    assert record.read_param(str(value)) == value

