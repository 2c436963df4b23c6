"""The command lines' argument parser: argparse's own complaints as one `error: ...` line.

argparse answers a bad option (`--num-samples many`, an unknown flag) with a usage block
and exit 2; every other refusal of the platform is one line. Raising SpecError lets each
command report it as it reports the rest (and a notebook calling main() gets no SystemExit).
"""

from __future__ import annotations

import argparse

from search.errors import SpecError


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise SpecError(f"{self.prog}: {message} (--help lists the options)")
