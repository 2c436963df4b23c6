"""`python -m search.run SPACE`: run one search from a space file.

Exit status: 0 done, 1 no trial succeeded, 2 bad input (one line on stderr,
nothing started or written), 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from search.errors import SpecError

SMOKE_SETTINGS = {"search.num_samples": 4, "train.epochs": 2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m search.run",
        description="Run a hyperparameter search described by a space file (spaces/*.yaml).",
        epilog="Example: python -m search.run spaces/rnn_units.yaml --set train.epochs=3 --num-samples 6",
    )
    parser.add_argument("space", help="the space file, e.g. spaces/rnn_units.yaml")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override any dotted key, e.g. train.epochs=3 or search.scheduler.grace_period=2 "
                             "(VALUE is read as YAML; repeatable)")
    parser.add_argument("--num-samples", type=int, metavar="N", help="number of trials (search.num_samples)")
    parser.add_argument("--smoke", action="store_true",
                        help="shrink the search to seconds: 4 trials, 2 epochs, a small slice of the data")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate and print the resolved spec, the space and the model's layers; start nothing")
    parser.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (tracking.uri)")
    parser.add_argument("--storage", metavar="PATH",
                        help="where Ray Tune keeps results and checkpoints (search.storage)")
    parser.add_argument("--address", metavar="ADDR",
                        help="join an existing Ray cluster (auto, HOST:PORT or ray://HOST:PORT) instead of a local one")
    parser.add_argument("--resume", nargs="?", const="last", metavar="PATH",
                        help="continue the last interrupted search of this space, or the one in PATH "
                             "(its Ray Tune folder, printed when it was interrupted)")
    return parser.parse_args(argv)


def cli_overrides(args: argparse.Namespace) -> list[str]:
    """Command-line flags as --set overrides, so they pass the same validation."""
    overrides = list(args.set)
    if args.num_samples is not None:
        overrides.append(f"search.num_samples={args.num_samples}")
    if args.tracking_uri:
        overrides.append(f"tracking.uri={yaml.safe_dump(args.tracking_uri).splitlines()[0]}")
    if args.storage:
        overrides.append(f"search.storage={yaml.safe_dump(args.storage).splitlines()[0]}")
    return overrides


def resolve_spec(args: argparse.Namespace):
    from search.spec import apply_overrides, read_yaml, validate_spec

    raw = apply_overrides(read_yaml(args.space), cli_overrides(args), args.space)
    spec = validate_spec(raw, source=args.space)
    if args.smoke:
        shrink = [f"{key}={min(value, _current(spec, key))}" for key, value in SMOKE_SETTINGS.items()]
        shrink.append("search.scheduler.grace_period=1")
        spec = validate_spec(apply_overrides(raw, shrink, args.space), source=args.space)
    return spec, raw


def _current(spec, dotted: str):
    node = spec
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        changes = args.set or args.num_samples is not None or args.tracking_uri or args.smoke or args.dry_run
        if args.resume is not None and changes:
            raise SpecError("--resume continues a search as it was started; it takes no --set, "
                            "--num-samples, --tracking-uri, --smoke or --dry-run")
        spec, raw = resolve_spec(args)
        if args.dry_run:
            from search.dry_run import print_dry_run

            print_dry_run(spec)
            return 0
        from search.pipeline import run_search

        return run_search(spec, raw, smoke=args.smoke, address=args.address, resume=args.resume)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return SpecError.exit_code


if __name__ == "__main__":
    sys.exit(main())
