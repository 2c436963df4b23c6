"""A user's CSV read by column names: its header, and numbers and timestamps, each bad
value refused with the line it came from.

pandas does the reading. What this adds is the refusal a user can act on (file, line,
column, value) where pandas would raise a ValueError deep in a traceback or quietly turn
a value into NaN, and quiet while reading: pandas' DtypeWarning and its date-format
warnings would otherwise print before the one line that says what is wrong.

Lines are the file's own (line 1 is the header), as an editor shows them, so long as no
quoted value spans lines; row numbers count the data rows from 1.
"""

from __future__ import annotations

import codecs
import functools
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from search.errors import SpecError

ENCODING = "utf-8-sig"  # UTF-8, also with the byte-order mark spreadsheet programs write
FIRST_DATA_LINE = 2  # the header is line 1
SHOWN_COLUMNS = 20  # a file's columns listed in a refusal, at most
# data.drop_unlabeled drops the rows without a label, up to this share of a file's rows.
# An export with a few unlabelled rows is common; a tenth or more of them says the label
# column is the wrong one, or the file is labelled only in part, and is refused.
MAX_UNLABELED_FRACTION = 0.10


@contextmanager
def quiet_pandas() -> Iterator[None]:
    """No pandas warning while a file is read: a problem becomes one refusal, or nothing."""
    with warnings.catch_warnings():
        for category in (pd.errors.DtypeWarning, pd.errors.ParserWarning, UserWarning,
                         FutureWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category)
        yield


def file_key(path: str | Path) -> tuple[str, int, int]:
    """Path, size and modification time: what a cache of a file's contents is keyed by."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return str(resolved), stat.st_size, stat.st_mtime_ns


def first_non_utf8(path: str | Path) -> tuple[int, int, int] | None:
    """(byte offset, line, byte value) of the first byte that is not UTF-8, or None.

    pandas reports a decoding error at an offset into its own buffer, not the file, so
    the file is scanned again (only when reading failed) to say where the byte is.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                # The decoder may hold back the start of a character from the chunk before.
                start = max(0, err.start - len(err.object) + len(chunk))
                return offset + start, line + chunk.count(b"\n", 0, start), chunk[start]
            offset, line = offset + len(chunk), line + chunk.count(b"\n")
    return None


def unreadable(path: str | Path, err: Exception, what: str = "a readable CSV file") -> SpecError:
    """The one-line refusal of a file pandas could not read."""
    if isinstance(err, UnicodeDecodeError):
        found = first_non_utf8(path)
        where = f": byte 0x{found[2]:02x} at line {found[1]} (byte offset {found[0]})" if found else ""
        return SpecError(f"data.path: {path} is not UTF-8 text{where}; save it as UTF-8")
    if isinstance(err, pd.errors.EmptyDataError):
        return SpecError(f"data.path: {path} is empty")
    reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return SpecError(f"data.path: {path} is not {what} ({reason})")


@functools.lru_cache(maxsize=32)
def _header(key: tuple[str, int, int], sep: str) -> tuple[str, ...]:
    path = key[0]
    try:
        with quiet_pandas():
            columns = pd.read_csv(path, sep=sep, nrows=0, encoding=ENCODING).columns
    except (ValueError, pd.errors.ParserError) as err:  # UnicodeDecodeError is a ValueError
        raise unreadable(path, err) from None
    return tuple(str(column) for column in columns)


def read_header(path: str | Path, sep: str = ",") -> list[str]:
    """The column names, from the first line only (cached while the file is unchanged)."""
    return list(_header(file_key(path), sep))


def listed(names: list[str], most: int = SHOWN_COLUMNS) -> str:
    """Names for a one-line message: quoted, long ones cut, at most `most` of them."""
    shown = ", ".join(repr(name if len(name) <= 40 else name[:37] + "...") for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def require_column(path: str | Path, key: str, column: str, header: list[str]) -> None:
    if column not in header:
        raise SpecError(f"data.{key}: {column!r} is not a column of {path}; its columns: {listed(header)}")


def blank(values: pd.Series) -> np.ndarray:
    """Cells with nothing but spaces in them (files read as text, without NA guessing)."""
    return (values.fillna("").astype(str).str.strip() == "").to_numpy(dtype=bool)


def unlabeled_to_drop(labels: pd.Series, path: str | Path, column: str) -> np.ndarray:
    """data.drop_unlabeled: the rows whose label is blank, refused when they are more than
    MAX_UNLABELED_FRACTION of the file's rows."""
    empty = blank(labels)
    count = int(empty.sum())
    if count > MAX_UNLABELED_FRACTION * len(labels):
        raise SpecError(f"data.drop_unlabeled: {count} of {len(labels)} rows of {path} ({count / len(labels):.0%}) "
                        f"have no {column!r} label, more than the {MAX_UNLABELED_FRACTION:.0%} it drops; is "
                        "data.label_column the column of labels?")
    return empty


def parse_numbers(raw: pd.Series, path: str | Path, column: str, decimal: str = ".") -> np.ndarray:
    """float64 values; an empty cell is NaN (a gap, for the caller to judge), anything else
    that is not a finite number is refused with its line."""
    text = raw.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    values = pd.to_numeric(text.mask(empty), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~empty & ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise SpecError(f"data.path: {path}, line {row + FIRST_DATA_LINE}, column {column!r}: "
                        f"{raw.iloc[row]!r} is not a number")
    return values


def parse_timestamps(raw: pd.Series, path: str | Path, column: str,
                     where: str | None = None) -> pd.DatetimeIndex:
    """Timestamps in the format of the first one (pandas' own guess), ISO 8601 variants
    accepted beside it; an empty or unparseable one is refused with its line. Offsets
    (+01:00) are honoured by converting to UTC; stamps without one stay as written.
    `where` names the column in refusals when its header does not (an unnamed column)."""
    where = where or f"column {column!r}"
    text = raw.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    if empty.any():
        row = int(np.argmax(empty))
        raise SpecError(f"data.path: {path}, line {row + FIRST_DATA_LINE}, {where}: no timestamp")
    form = guess_datetime_format(str(text.iloc[0])) if len(text) else None
    with quiet_pandas():
        parsed = pd.to_datetime(text, format=form, errors="coerce", utc=True)
        failed = parsed.isna()
        if failed.any():  # "2014-01-01" among "2014-01-01 00:30:00": the same calendar, shorter
            parsed[failed] = pd.to_datetime(text[failed], format="ISO8601", errors="coerce", utc=True)
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        row = int(np.argmax(bad))
        like = f" like the first one ({form})" if form else ""
        raise SpecError(f"data.path: {path}, line {row + FIRST_DATA_LINE}, {where}: "
                        f"{raw.iloc[row]!r} is not a timestamp{like}")
    index = pd.DatetimeIndex(parsed)
    return index if form and "%z" in form else index.tz_localize(None)
