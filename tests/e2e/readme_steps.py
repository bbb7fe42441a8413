"""The README's quick start as data: its shell commands, read from the README itself.

The first-hour test runs exactly these lines (only the port numbers are swapped for free ones, since
the machine is shared), so the README and the test cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"```(?P<lang>\w*)\n(?P<body>.*?)```", re.DOTALL)


def section(readme: str, heading: str) -> str:
    start = readme.index(heading)
    nxt = readme.find("\n## ", start + len(heading))
    return readme[start: nxt if nxt != -1 else len(readme)]


def blocks(text: str, lang: str) -> list[str]:
    return [m["body"] for m in FENCE.finditer(text) if m["lang"] == lang]


def quick_start(readme_path: Path) -> dict[str, str]:
    """The two commands, the buy and close alerts, and the report lines of the quick start."""
    readme = readme_path.read_text(encoding="utf-8")
    top = blocks(readme[: readme.index("\n## ")], "bash")[0]
    qs = section(readme, "## Quick start")
    bash = blocks(qs, "bash")
    buy = next(b for b in bash if '"action":"buy"' in b).strip()
    close = next(b for b in bash if '"action":"close"' in b).strip()
    verbs = next(b for b in bash if "report performance" in b)
    commands = [line.split("#")[0].strip() for line in verbs.splitlines() if line.strip()]
    return {
        "run": next(line.split("#")[0].strip() for line in top.splitlines() if line.startswith("./run.sh")),
        "buy": buy,
        "close": close,
        "performance": next(c for c in commands if "report performance" in c),
        "fifo_check": next(c for c in commands if "fifo check" in c),
    }


def sdk_snippet(readme_path: Path) -> str:
    readme = readme_path.read_text(encoding="utf-8")
    return next(b for b in blocks(section(readme, "## The simulator, and pointing the SDK"), "python")
                if "RESTClient" in b)
