"""`python -m search.sync FOLDER`: hands MLflow what a search's spool still holds.

A search whose MLflow did not answer by its end exits 3 ("finished, record pending") and
prints this command. FOLDER is the search's Ray Tune folder (the one `--resume` takes); its
`search_run.json` names the store. The writes go in the order they were made, with their
original timestamps; whatever MLflow already has is not written twice.

Exit status: 0 the record is whole, 2 bad input, 3 MLflow still did not take everything.
"""

from __future__ import annotations

import argparse
import os
import sys

from search.cli.cli_args import OneLineParser
from search.errors import SpecError
from search.tracking.spool import spool_folder

DEFAULT_WAIT_S = 600.0


def replay_spool(folder: str, tracking_uri: str, wait_s: float) -> int:
    """Writes what the spool in `folder` holds; returns how many writes still wait after `wait_s`."""
    from search.tracking.record_writer import SpooledClient

    if not os.path.isdir(folder):
        return 0
    client = SpooledClient(tracking_uri, folder)
    try:
        client.wait_until_written(wait_s)
        return client.pending
    finally:
        client.close()


def sync_command(experiment_dir: str) -> str:
    return f"python -m search.sync {experiment_dir}"


def print_record_pending(tracking_uri: str, wait_s: float, pending: int, experiment_dir: str) -> None:
    print(f"[search] finished, record pending: MLflow at {tracking_uri} did not take {pending} writes within "
          f"{wait_s:g} s (tracking.outage_wait); they wait in {spool_folder(experiment_dir)}. Once it answers:\n"
          f"  {sync_command(experiment_dir)}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m search.sync",
                           description="Write to MLflow what a search's spool still holds.",
                           epilog="Example: python -m search.sync ray_results/rnn_units-20261207-101500")
    parser.add_argument("folder", help="the search's Ray Tune folder (printed when it exited 3)")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, metavar="SECONDS",
                        help=f"how long to wait for MLflow to answer (default {DEFAULT_WAIT_S:g})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from search.tracking.store import check_tracking_store
    from search.tuning.resume import RECORD, read_record

    try:
        args = parse_args(argv)
        record = read_record(args.folder)
        if record is None:
            raise SpecError(f"{args.folder}: not the folder of a search (no {RECORD} in it)")
        check_tracking_store(record.tracking_uri, f"{RECORD}'s tracking_uri", must_exist=False)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return SpecError.exit_code
    pending = replay_spool(spool_folder(args.folder), record.tracking_uri, args.wait)
    if pending:
        print(f"[sync] MLflow at {record.tracking_uri} did not take {pending} writes within {args.wait:g} s; "
              f"run again once it answers: {sync_command(args.folder)}", file=sys.stderr)
        return 3
    print(f"[sync] the record of {args.folder} is whole in MLflow at {record.tracking_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
