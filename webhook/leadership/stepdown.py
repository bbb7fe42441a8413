"""Stepping down: the process that lost leadership starts over as a fresh standby.

Re-executing is the one way to be sure that no task of the old leader — a sweep, a retry, a
reconcile already past its checks — runs another line: the kernel drops every socket, the server
rolls back any open transaction (an alert being executed stays queued for the new leader).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from core.logging import get_logger

log = get_logger(__name__)


def restart_as_standby(reason: str) -> NoReturn:
    log.error("leader_stepped_down", reason=reason, action="restarting this process as a standby")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
