"""One order writer per account: leader election over a PostgreSQL advisory lock, a leader epoch
that fences every order placement, and the standby → leader takeover (issue #24, DESIGN §6)."""

from webhook.leadership.fence import LeaderFence, NotLeader
from webhook.leadership.gate import LeadershipGate

__all__ = ["LeaderFence", "LeadershipGate", "NotLeader"]
