"""Pure admission rules for an authenticated, parsed alert whose product is known: staleness, the
size values, and the order cap when the alert itself states its USD value. No clock reads: the
caller passes `now`. The endpoint applies them in this order, after the secret, parse and product
checks, so the stored reason is the first real cause.

Staleness applies to the fire time (`timenow`, see webhook/alerts/normalise.py). A plain-text alert
without a fire time is as fresh as its arrival. The cap checked here is only a fast refusal of what
is already over the cap by the alert's own numbers; the binding check is `sizing.size_entry` on the
live quote, before the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.money import fmt
from webhook.alerts.reasons import Reason, Refusal
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


def admit(alert: Alert, now: datetime, policy: AdmissionPolicy) -> Refusal | None:
    """None when the alert may be stored as accepted; else the first refusal (staleness, size, cap)."""
    age_s = (now - alert.time).total_seconds()
    if age_s > policy.max_lag_s:
        hint = ""
        if alert.time_field.lower() == "time":
            hint = "; if that field holds the bar time {{time}}, send the fire time as \"timenow\":\"{{timenow}}\""
        return Refusal(Reason.STALE, f"the alert's fire time ({alert.time_field}) is {age_s:.0f} s old "
                       f"(ALERT_MAX_LAG_S {policy.max_lag_s:g} s){hint}", alert.time_field)
    if -age_s > policy.future_skew_s:
        return Refusal(Reason.FUTURE, f"the alert's fire time ({alert.time_field}) is {-age_s:.0f} s in the future "
                       f"(ALERT_FUTURE_SKEW_S {policy.future_skew_s:g} s): check the sender's clock",
                       alert.time_field)
    if alert.problem is not None:
        return alert.problem
    if alert.action != "buy":
        return None
    notional = alert.notional_estimate
    if notional is not None and notional > policy.max_notional_usd:
        return Refusal(Reason.OVER_ORDER_CAP, f"the alert's own order value {fmt(notional)} USD is above "
                       f"MAX_ORDER_NOTIONAL_USD {fmt(policy.max_notional_usd)} USD")
    return None
