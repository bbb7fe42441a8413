"""Pure admission rules for an authenticated, well-formed alert: staleness and the notional cap.

No clock reads: the caller passes `now`. The result decides the stored status and the HTTP reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.enums import AlertStatus
from core.money import fmt
from webhook.alerts.schema import Alert


@dataclass(frozen=True)
class AdmissionPolicy:
    max_lag_s: float
    future_skew_s: float
    max_notional_usd: Decimal

    @classmethod
    def from_settings(cls, settings: Any) -> AdmissionPolicy:
        return cls(
            max_lag_s=settings.alert_max_lag_s,
            future_skew_s=settings.alert_future_skew_s,
            max_notional_usd=settings.max_order_notional_usd,
        )


@dataclass(frozen=True)
class Admission:
    status: AlertStatus  # ACCEPTED, STALE or REJECTED_RISK
    reason: str | None = None


def admit(alert: Alert, now: datetime, policy: AdmissionPolicy) -> Admission:
    age_s = (now - alert.time).total_seconds()
    if age_s > policy.max_lag_s:
        return Admission(AlertStatus.STALE, f"alert time is {age_s:.0f} s old (limit {policy.max_lag_s:g} s)")
    if -age_s > policy.future_skew_s:
        return Admission(
            AlertStatus.STALE, f"alert time is {-age_s:.0f} s in the future (limit {policy.future_skew_s:g} s)"
        )
    notional = alert.notional_estimate
    if notional is not None and notional > policy.max_notional_usd:
        return Admission(
            AlertStatus.REJECTED_RISK,
            f"order notional {fmt(notional)} USD exceeds the cap of {fmt(policy.max_notional_usd)} USD",
        )
    return Admission(AlertStatus.ACCEPTED)
