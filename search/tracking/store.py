"""Whether an MLflow tracking store can be used, checked before Ray starts.

MLflow itself meets a bad store late: an unknown scheme after Ray started and the data
loaded, a tracking server that is not running after a minute of retries. Here a store is
asked once, with MLflow's retries off and a short timeout, so the mistake is one line.

What a search and the comparison accept, the same for both: `sqlite:///PATH`, whose
folder must exist (a search creates the file on first use; the comparison, which only
reads, refuses a file that is not there), `http(s)://` of a running `mlflow server`, or
a database MLflow supports.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from urllib.parse import urlparse

from search.errors import SpecError

SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
ALLOWED = ("allowed: sqlite:///PATH (a file in an existing folder), http(s)://HOST:PORT of a running "
           "`mlflow server`, or a database MLflow supports (postgresql://, mysql://, mssql://)")
PROBE_TIMEOUT_S = 5
SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_path(uri: str) -> str:
    """sqlite:///mlflow.db is relative, sqlite:////abs/mlflow.db absolute: both drop 3 slashes."""
    return uri.removeprefix("sqlite:///").partition("?")[0]


def check_tracking_store(uri: str, where: str, must_exist: bool) -> None:
    """Refuses a store that cannot be used, naming `where` (the key or option that gave it).

    `must_exist`: a reader (the comparison) wants a store that is there; a search creates
    a new sqlite file (never a folder: a mistyped folder would start a second store).
    """
    scheme = urlparse(uri).scheme.partition("+")[0].lower()  # postgresql+psycopg2: a driver
    if scheme not in SCHEMES:
        got = f"scheme {scheme!r}" if scheme else "a path (MLflow's file store, no longer developed)"
        raise SpecError(f"{where}: {uri}: {got} is not a tracking store here; {ALLOWED}")
    if scheme == "sqlite":
        _check_sqlite(uri, where, must_exist)
        return  # local: MLflow opens (or creates) it in a second, with its own clear errors
    _probe(uri, where)


def _check_sqlite(uri: str, where: str, must_exist: bool) -> None:
    if not uri.startswith("sqlite:///") or not sqlite_path(uri):
        raise SpecError(f"{where}: {uri}: give a file, sqlite:///PATH (three slashes, four for an "
                        "absolute path)")
    path = os.path.abspath(os.path.expanduser(sqlite_path(uri)))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise SpecError(f"{where}: {uri}: no such folder {folder}; a store's folder must exist "
                        "(create it, or correct the path)")
    if not os.path.exists(path):
        if must_exist:
            raise SpecError(f"{where}: {uri}: no such store (no file {path})")
        if not os.access(folder, os.W_OK):
            raise SpecError(f"{where}: {uri}: the folder {folder} is not writable, so the store "
                            "cannot be created there")
        return
    if not os.path.isfile(path):
        raise SpecError(f"{where}: {uri}: {path} is not a file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as err:
        raise SpecError(f"{where}: {uri}: cannot read {path} ({err.strerror})") from None
    if header and header != SQLITE_HEADER:
        raise SpecError(f"{where}: {uri}: {path} is not an SQLite database")


@contextmanager
def _one_quick_try():
    """MLflow's HTTP client retries for over a minute by default; these are its own settings."""
    names = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(PROBE_TIMEOUT_S)}
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _probe(uri: str, where: str) -> None:
    from mlflow.tracking import MlflowClient

    try:
        with _one_quick_try():
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - whatever the store's client raises, as one line
        raise SpecError(f"{where}: {uri}: {_reason(uri, err)}") from None


def _reason(uri: str, err: Exception) -> str:
    text = str(err)
    if uri.startswith("http"):
        if "NewConnectionError" in text or "Connection refused" in text:
            return ("no MLflow server answers there (connection refused); start one (`mlflow server "
                    "--host HOST --port PORT`, docs/results.md \"For a team\") or give another URI")
        if "NameResolution" in text or "Name or service not known" in text:
            return "unknown host name; give a host this machine can resolve"
        if "timed out" in text.lower() or "Timeout" in text:
            return f"no answer within {PROBE_TIMEOUT_S} s; is the MLflow server running and reachable?"
        code = re.search(r"error code (\d+)", text)
        if code:
            return (f"the server answered HTTP {code.group(1)} to MLflow's API: not an MLflow tracking "
                    "server, or one that refuses this client")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"cannot use the store: {first[:300]}"
