"""In-memory limiters for the alert endpoint. Time is passed in (monotonic seconds); no clock reads.

- `TokenBucketLimiter`: the per-source alert rate limit (a burst of `per_minute`, refilled evenly).
- `RecordBudget`: how many non-alert rows (unauthorized, invalid, duplicate, rate-limited) may be
  written per minute, per source and overall, so a flood of garbage cannot fill the table. Every
  request is still counted in metrics.
Both bound their memory: past `max_keys` distinct sources, unknown sources are refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBucketLimiter:
    def __init__(self, per_minute: int, max_keys: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now)
                if len(self._buckets) >= self._max_keys:
                    return False
            bucket = self._buckets[key] = _Bucket(self._capacity, now)
        else:
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(self._capacity, bucket.tokens + elapsed * self._rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self._rate >= self._capacity]
        for key in full:
            del self._buckets[key]


class RecordBudget:
    """Fixed one-minute windows: at most `per_source` rows per source and `total` rows overall."""

    def __init__(self, per_source: int = 20, total: int = 200, max_keys: int = 10_000) -> None:
        self._per_source = per_source
        self._total = total
        self._max_keys = max_keys
        self._window = -1
        self._counts: dict[str, int] = {}
        self._used = 0

    def allow(self, source: str, now: float) -> bool:
        window = int(now // 60)
        if window != self._window:
            self._window, self._counts, self._used = window, {}, 0
        if self._used >= self._total:
            return False
        count = self._counts.get(source)
        if count is None and len(self._counts) >= self._max_keys:
            return False
        if (count or 0) >= self._per_source:
            return False
        self._counts[source] = (count or 0) + 1
        self._used += 1
        return True
