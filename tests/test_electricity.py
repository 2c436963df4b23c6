"""The electricity task: UCI parser, built-in series, chronological split, no scaling leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from search.data import get_task
from search.data.electricity import LoadedSeries, read_uci, window_splits

from search.errors import SpecError

TASK = get_task("electricity")


def write_uci(path, rows: int = 400, clients: int = 3):
    """A small file in the exact UCI format: ';' separated, ',' decimals, quoted header."""
    times = pd.date_range("2011-01-01 00:15:00", periods=rows, freq="15min")
    header = '"";' + ";".join(f'"MT_{i:03d}"' for i in range(1, clients + 1))
    lines = [header]
    for step, stamp in enumerate(times):
        values = [f"{(step % 96) * (i + 1) + 0.5:.1f}".replace(".", ",") for i in range(clients)]
        lines.append(f'"{stamp:%Y-%m-%d %H:%M:%S}";' + ";".join(values))
    path.write_text("\n".join(lines) + "\n")
    return times


def test_uci_parser_reads_the_real_format(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "LD2011_2014.txt"
    times = write_uci(path)
    frame = read_uci(path)
    assert list(frame.columns) == ["MT_001", "MT_002", "MT_003"]
    assert frame.index[0] == times[0] and len(frame) == 400
    assert frame["MT_002"].iloc[3] == pytest.approx(3 * 2 + 0.5)  # "6,5" read as 6.5
    # The parsed frame is cached: a second read does not parse the text again.
    assert len(list((tmp_path / "cache" / "uci").glob("*.pkl"))) == 1
    path.write_text("garbage")  # same size and mtime would reuse the cache; a new file does not
    with pytest.raises(SpecError, match="is not a UCI LD2011_2014.txt file"):
        read_uci(path)


def test_uci_client_sum_and_resample(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "LD2011_2014.txt"
    write_uci(path, rows=960)
    one = TASK.load(TASK.Options(path=str(path), lookback=8))
    total = TASK.load(TASK.Options(path=str(path), client="all", lookback=8))
    hourly = TASK.load(TASK.Options(path=str(path), resample="1h", lookback=8))
    assert one.name == "MT_001" and total.name == "all"
    assert one.steps_per_day == 96 and hourly.steps_per_day == 24
    assert len(hourly.values) == 240
    with pytest.raises(SpecError, match="'MT_999' is not a column"):
        TASK.load(TASK.Options(path=str(path), client="MT_999"))


def test_builtin_series_split_is_chronological_70_10_20():
    loaded = TASK.load(TASK.Options())
    assert len(loaded.values) == 17520 and loaded.steps_per_day == 48
    assert (loaded.n_train, loaded.n_val) == (12264, 1752)


def test_scaler_is_fitted_on_the_training_part_only():
    loaded = TASK.load(TASK.Options())
    train = loaded.values[: loaded.n_train]
    assert train.min() == pytest.approx(0.0, abs=1e-6) and train.max() == pytest.approx(1.0, abs=1e-6)
    # Later parts are scaled with the training min and max, so they may leave [0, 1].
    rest = loaded.values[loaded.n_train:]
    assert rest.min() < 0.0 or rest.max() > 1.0 or not np.isclose(rest.max(), 1.0)
    # And the scale maps back to the series' own units (MW of demand).
    from search.data.electricity import builtin_series

    raw = builtin_series().to_numpy()
    assert loaded.values[100] * loaded.scale + loaded.offset == pytest.approx(raw[100], rel=1e-5)
    assert loaded.offset == pytest.approx(raw[: loaded.n_train].min())


def test_windows_never_take_targets_from_another_split():
    values = np.arange(100, dtype=np.float32)
    loaded = LoadedSeries(values=values, n_train=70, n_val=10, scale=1.0, offset=0.0, steps_per_day=4, name="x")
    windows = window_splits(loaded, lookback=5, horizon=2)
    x_train, y_train, _ = windows["train"]
    x_val, y_val, _ = windows["val"]
    x_test, y_test, _ = windows["test"]
    assert y_train.max() < 70 and y_val.min() >= 70 and y_val.max() < 80 and y_test.min() >= 80
    assert x_train.shape == (64, 5) and y_train.shape == (64, 2)
    np.testing.assert_array_equal(x_val[0], [65, 66, 67, 68, 69])  # inputs may look back across the split
    np.testing.assert_array_equal(y_val[0], [70, 71])


def test_baselines_on_the_builtin_series():
    loaded = TASK.load(TASK.Options())
    scores = TASK.baselines(loaded, TASK.Options())
    assert scores["baseline_persistence_test_mse"] == pytest.approx(0.00039, rel=0.05)
    assert scores["baseline_seasonal_naive_test_mse"] == pytest.approx(0.0053, rel=0.05)
    assert scores["baseline_linear_test_mse"] == pytest.approx(0.00008, rel=0.1)
    assert scores["baseline_linear_test_rmse"] == pytest.approx(
        np.sqrt(scores["baseline_linear_test_mse"]) * loaded.scale)


def test_splits_shapes_follow_lookback_and_horizon():
    options = TASK.Options(lookback=24, horizon=3)
    splits = TASK.splits(TASK.load(options, smoke=True), options)
    x, y = splits.train
    assert x.shape[1:] == (24, 1) and y.shape[1:] == (3,)
    assert splits.model_inputs == {"input_size": 1, "output_size": 3, "lookback": 24}
