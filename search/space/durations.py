"""Durations as people write them (`90s`, `15m`, `2h`, `1h30m`) and as the platform says them.

Written by hand: the spec must stay quick to import (no Ray, no pandas), and the
format is small enough that a regular expression says it whole.
"""

from __future__ import annotations

import math
import re

UNITS = {"h": 3600, "m": 60, "s": 1}
# Hours, minutes, seconds in that order, each at most once: 2h, 1h30m, 90s, 1.5h.
DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")
WRITTEN = "a duration such as 90s, 15m, 2h or 1h30m, or a number of seconds"


def parse_duration(value: object) -> float:
    """Seconds from a duration string or a number; ValueError (saying what is allowed) otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {WRITTEN}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        match = DURATION.match(text)
        if text and match is None:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not {WRITTEN}") from None
        elif not text or not any(match.group(unit) for unit in UNITS):
            raise ValueError(f"{value!r} is not {WRITTEN}")
        else:
            seconds = sum(float(match.group(unit)) * factor for unit, factor in UNITS.items() if match.group(unit))
    else:
        raise ValueError(f"{value!r} is not {WRITTEN}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} must be above 0 seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """1h05m, 12m30s, 45s: a time to read (whole seconds)."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" + (f"{secs:02d}s" if secs else "")
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"
