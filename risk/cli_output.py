"""How the risk verbs show their results to a person (`--json` prints the exact values instead)."""

from __future__ import annotations

from typing import Any

from core.display import usd_text


def status_text(state: dict[str, Any]) -> str:
    """`risk-status` for people: entries allowed or not, each breaker, today's counters (USD to cents)."""
    lines = ["entries: " + ("BLOCKED" if state["entries_blocked"] else "allowed")]
    for name, b in state["breakers"].items():
        if b["tripped"]:
            lines.append(f"  {name}: TRIPPED at {b['tripped_at']}" + (f" — {b['reason']}" if b["reason"] else ""))
        else:
            lines.append(f"  {name}: ok")
    c = state["counters"]
    lines.append(f"today ({c['day']}, UTC): realized P&L {usd_text(c['realized_pnl_usd'])}, "
                 f"losing exits in a row {c['consecutive_losses']}")
    return "\n".join(lines) + "\n"


def halt_text(reason: str) -> str:
    return f"entries halted: {reason} (exits keep running; `resume` clears it)\n"


def resume_text(cleared: list[str], entries_blocked: bool) -> str:
    done = ", ".join(cleared) if cleared else "nothing was tripped"
    return f"cleared: {done}; entries {'still BLOCKED' if entries_blocked else 'allowed'}\n"
