"""Durations on the command line: `15m`, `60s`, `1h30m`, `90` (seconds). Pure."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}
MAX_S = 24 * 3600.0


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError (naming the input) unless it is a positive duration up to a day."""
    raw = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(raw):
        match = _PART.match(raw, pos)
        # A bare number is seconds only on its own ("90"), never after a unit ("1m5" is ambiguous).
        if match is None or (match.group(2) == "" and (pos > 0 or match.end() != len(raw))):
            raise ValueError(f"not a duration: {text!r} (use e.g. 15m, 60s, 1h30m)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or total <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    if total > MAX_S:
        raise ValueError(f"duration {text!r} is longer than a day")
    return total
