"""`python -m search.run SPACE`: run one search from a space file (a thin layer over
`search.run_search`, the Python API).

Exit status: 0 done, 1 no trial succeeded, 2 bad input (one line on stderr,
nothing started or written), 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading

from search.cli.cli_args import OneLineParser
from search.errors import SpecError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python -m search.run",
        description="Run a hyperparameter search described by a space file (spaces/*.yaml).",
        epilog="Example: python -m search.run spaces/rnn_units.yaml --set train.epochs=3 --num-samples 6",
    )
    parser.add_argument("space", help="the space file, e.g. spaces/rnn_units.yaml")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override any dotted key, e.g. train.epochs=3 or search.scheduler.grace_period=2 "
                             "(VALUE is read as YAML; repeatable)")
    parser.add_argument("--num-samples", type=int, metavar="N", help="number of trials (search.num_samples)")
    parser.add_argument("--time-budget", metavar="DURATION",
                        help="end the search after this long from its first trial's start, e.g. 90s, 30m, 2h, "
                             "1h30m (search.budget.time)")
    parser.add_argument("--smoke", action="store_true",
                        help="shrink the search to seconds: 4 trials, 2 epochs, a small slice of the data")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate and print the resolved spec, the space and the model's layers; start nothing")
    parser.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (tracking.uri)")
    parser.add_argument("--storage", metavar="PATH",
                        help="where Ray Tune keeps results and checkpoints (search.storage)")
    parser.add_argument("--address", metavar="ADDR",
                        help="join an existing Ray cluster instead of a local one: auto, or HOST:PORT of its head; "
                             "run on the head node (ray job submit ... --address auto), Ray Client's "
                             "ray:// is refused")
    parser.add_argument("--resume", nargs="?", const="last", metavar="PATH",
                        help="continue the last interrupted search of this space, or the one in PATH "
                             "(its Ray Tune folder, printed when it was interrupted); other options may "
                             "repeat the values the search started with")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # The search reads small files of its own record back from MLflow (as search.compare
    # does): a progress bar for each is noise in its output, not a download a user waits on.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        args = parse_args(argv)
        overrides = list(args.set)
        if args.num_samples is not None:
            overrides.append(f"search.num_samples={args.num_samples}")
        if args.resume is not None and args.dry_run:
            raise SpecError("--resume continues a search as it was started; it takes no --dry-run")
        if args.dry_run:
            from search.api import command_line_overrides, read_space, resolve_spec
            from search.cli.dry_run import print_dry_run

            raw, source = read_space(args.space)
            spec, _ = resolve_spec(raw, source, command_line_overrides(overrides, args.tracking_uri, args.storage,
                                                                       args.time_budget), args.smoke)
            print_dry_run(spec)
            return 0
        from search.api import run_search

        resume = False if args.resume is None else (True if args.resume == "last" else args.resume)
        result = run_search(args.space, overrides=overrides, smoke=args.smoke, tracking_uri=args.tracking_uri,
                            storage=args.storage, address=args.address, resume=resume, time_budget=args.time_budget)
        return result.exit_code
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return SpecError.exit_code


def exit_without_teardown(code: int) -> None:
    """Ends the command once its work is done, without the interpreter's finalization.

    Tearing down the modules a search imports (torch, Ray, pyarrow, MLflow's database
    engine) took 2-5 s after every search here, timed from the last atexit handler to the
    process's end, for nothing the command still needs: its MLflow records are committed
    and Ray is stopped. What normal exit does that matters runs first: other threads are
    joined, the atexit handlers run (MLflow's temporary folders, logging's flush), and
    stdout and stderr are flushed. A notebook's search (search.run_search) is not affected.
    """
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    # Python's own atexit run, as at normal exit (CPython has no public name for it).
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
