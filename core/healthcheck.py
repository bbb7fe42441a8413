"""`python main.py healthcheck URL`: a container healthcheck that asks a service's `/health`.

Exit 0 when the answer is 200 (and every `--require` path in its JSON is true), else 1, with one
line saying why. The image has no curl; this needs only the standard library.

Compose runs it every 5–15 s in every container, so main.py hands it over before importing anything
else (`run_standalone`): no settings, logging or other verbs' modules. Through the full command line it
cost ≈ 1.3 s of CPU a probe on our test machine; alone, about a tenth of that.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = 5.0
VERB = "healthcheck"
HELP = "exit 0 when URL (a /health endpoint) answers 200 (container probes)"


def register(sub: Any) -> None:
    """The verb in `main.py --help`; main.py runs it through `run_standalone`, before anything else."""
    _arguments(sub.add_parser(VERB, help=HELP))


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="e.g. http://127.0.0.1:5003/health")
    p.add_argument("--ca", metavar="FILE", help="CA bundle for an https URL (the simulator's ca.pem)")
    p.add_argument("--require", action="append", default=[], metavar="PATH",
                   help="a dotted path in the JSON answer that must be true, e.g. matrix.fresh (repeatable)")


def lookup(body: Any, path: str) -> Any:
    """`a.b` → body["a"]["b"]; None when any step is missing."""
    for part in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def verdict(status: int, body: Any, required: list[str]) -> tuple[bool, str]:
    if status != 200:
        problems = lookup(body, "problems")
        return False, f"HTTP {status}" + (f": {problems}" if problems else "")
    missing = [p for p in required if lookup(body, p) is not True]
    if missing:
        return False, "not true: " + ", ".join(missing)
    return True, "healthy"


def fetch(url: str, ca: str | None) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=ca) if ca else None
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def run_standalone(argv: list[str]) -> int:
    """`healthcheck …` (argv without the verb) as main.py runs it: parse, probe, print one line."""
    parser = argparse.ArgumentParser(prog=f"main.py {VERB}", description=HELP)
    _arguments(parser)
    return probe(parser.parse_args(argv))


def probe(args: argparse.Namespace) -> int:
    try:
        status, raw = fetch(args.url, args.ca)
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {args.url}: {exc}")
        return 1
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    ok, why = verdict(status, body, args.require)
    print(("healthy" if ok else "unhealthy") + f": {args.url}: {why}")
    sys.stdout.flush()
    return 0 if ok else 1
