"""The one error type a user sees for bad input: one line, exit status 2."""


class SpecError(Exception):
    """Bad input (spec file, --set value, data file): reported as one line, exit 2.

    Raised before anything is started or written, so a refused run leaves no trace.
    """

    exit_code = 2
