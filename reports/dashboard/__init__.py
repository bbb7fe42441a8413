"""The read-only web dashboard: open positions, exits, orders, fills, P&L by day, health."""

from reports.dashboard.data import (
    BreakerStatus,
    DashboardData,
    FeedStatus,
    HealthSnapshot,
    PositionSnapshot,
    TrailingSnapshot,
)
from reports.dashboard.routes import dashboard_routes

__all__ = [
    "BreakerStatus",
    "DashboardData",
    "FeedStatus",
    "HealthSnapshot",
    "PositionSnapshot",
    "TrailingSnapshot",
    "dashboard_routes",
]
