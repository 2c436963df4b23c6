"""Finding an interrupted search again: a small record beside Ray Tune's experiment state.

The record ties the Ray experiment folder to its MLflow search run, so a resumed search
continues the same search run and the same trial runs instead of starting new ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import pyarrow.fs

from search.cluster.storage import resolve_storage
from search.errors import SpecError
from search.space.dotted import flatten
from search.space.spec import apply_overrides
from search.space.validation import validate_spec

RECORD = "search_run.json"


@dataclass
class ResumeRecord:
    search_run_id: str
    tracking_uri: str
    experiment: str
    run_name: str
    smoke: bool
    spec: dict[str, Any]  # the space as it was run (with --set applied)


def _filesystem(location: str):
    return pyarrow.fs.FileSystem.from_uri(location if "://" in location else os.path.abspath(location))


def write_record(experiment_dir: str, record: ResumeRecord) -> None:
    fs, path = _filesystem(experiment_dir)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{RECORD}") as out:
        out.write(json.dumps(asdict(record), indent=2).encode())


def read_record(experiment_dir: str) -> ResumeRecord | None:
    fs, path = _filesystem(experiment_dir)
    try:
        with fs.open_input_stream(f"{path}/{RECORD}") as handle:
            return ResumeRecord(**json.loads(handle.readall()))
    except (FileNotFoundError, OSError):
        return None


def find_experiment_dir(storage: str, space_name: str, wanted: str) -> str:
    """`wanted` is "last" (the newest search of this space under storage) or a folder."""
    if wanted != "last":
        if read_record(wanted) is None:
            raise SpecError(f"--resume: {wanted} is not the folder of a search (no {RECORD} in it)")
        return wanted.rstrip("/")
    fs, root = _filesystem(storage)
    try:
        entries = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    except OSError:
        entries = []
    names = sorted(e.base_name for e in entries
                   if e.type == pyarrow.fs.FileType.Directory and e.base_name.startswith(f"{space_name}-"))
    for name in reversed(names):
        folder = f"{storage.rstrip('/')}/{name}"
        if read_record(folder) is not None:
            return folder
    raise SpecError(f"--resume: no search of {space_name!r} to resume under {storage}")


def first_difference(started: dict[str, Any], now: dict[str, Any]) -> tuple[str, Any, Any] | None:
    flat_started, flat_now = flatten(started), flatten(now)
    for key in dict.fromkeys([*flat_now, *flat_started]):
        if flat_started.get(key, "<unset>") != flat_now.get(key, "<unset>"):
            return key, flat_started.get(key, "<unset>"), flat_now.get(key, "<unset>")
    return None


def check_same_as_started(record, overrides: Sequence[str], smoke: bool) -> None:
    """A re-typed original command is accepted; a changed value is refused, naming it.

    Compared as resolved settings, so `--tracking-uri sqlite:///mlflow.db` matches a search
    started without it (that is the default)."""
    started = validate_spec(record.spec, source="--resume").model_dump()
    started["tracking"]["uri"] = record.tracking_uri
    now = validate_spec(apply_overrides(record.spec, list(overrides), "--resume"), source="--resume").model_dump()
    for settings in (started, now):  # null and ./ray_results are the same place
        settings["search"]["storage"] = resolve_storage(settings["search"]["storage"])
    difference = first_difference(started, now)
    if difference is not None:
        key, started, given = difference
        raise SpecError(f"--resume: {key} was {started!r} when the search started, {given!r} now; a "
                        "resumed search runs as it was started (leave the option out, or give the "
                        "value it started with)")
    if smoke and not record.smoke:
        raise SpecError("--resume: --smoke: the search was started without --smoke")
