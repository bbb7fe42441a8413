"""A port for a process a test starts on 127.0.0.1 and tells which port to listen on.

The port binds now and lies below the kernel's ephemeral range, so no outgoing connection (asyncpg's, the
test's own HTTP) can take it before the process binds it. A port from bind(0) is an ephemeral one: CI saw
the compose test's simulator find its port taken ("address already in use", exit 4) seconds after the test
had chosen it, while migrations and other services ran in between.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_GIVEN: set[int] = set()  # a test asks for two or three at once: never the same one twice in a process


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port below the ephemeral range that nothing listens on or holds now."""
    high = _ephemeral_low()
    low = max(1024, min(10000, high - 2000))
    for _ in range(500):
        port = random.randrange(low, high)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {low}..{high - 1} after 500 tries")
