"""A scripted trading session with known exits (one unit per round trip), shared by the performance
unit test, the database integration tests and the browser test.

 # | exit reason   | entry | exit  | buy fee | sell fee | target  | P&L (hand-computed)
 A | take_profit   | 100   | 107   | 0.5     | 0.5      | 106.25  | 107 − 0.5 − 100.5      =  6.00
 C | hard_stop     | 100   | 94    | 0.5     | 0.5      | 95      | 94 − 0.5 − 100.5       = −7.00
 B | take_profit   | 200   | 212.5 | 1       | 1        | 212.5   | 212.5 − 1 − 201        = 10.50
 D | soft_stop     | 100   | 97.5  | 0.5     | 0.5      | 97.5    | 97.5 − 0.5 − 100.5     = −3.50
 E | trailing_stop | 100   | 104   | 0.5     | 0.5      | 104     | 104 − 0.5 − 100.5      =  3.00
 F | signal        | 100   | 100.5 | 0.5     | 0.5      | –       | 100.5 − 0.5 − 100.5    = −0.50
 (in this exit order, one day apart; then G: a manual sell beyond the known inventory, left out as
 missing basis)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from core.enums import Side
from tests.unit.reports.vectors import F, Slice, make_slice, utc

D = Decimal
SYMBOL = "BTC-USD"
START = utc(2026, 3, 2)


@dataclass(frozen=True)
class RoundTrip:
    key: str
    reason: str | None
    entry: Decimal
    exit: Decimal
    buy_fee: Decimal
    sell_fee: Decimal
    target: Decimal | None

    @property
    def sell_time(self) -> datetime:
        return START + timedelta(days=ORDER.index(self.key))

    @property
    def buy(self) -> F:
        return F(f"fill-buy-{self.key}", f"buy-{self.key}", SYMBOL, Side.BUY, self.entry, D(1), self.buy_fee,
                 self.sell_time - timedelta(hours=2))

    @property
    def sell(self) -> F:
        return F(f"fill-sell-{self.key}", f"sell-{self.key}", SYMBOL, Side.SELL, self.exit, D(1), self.sell_fee,
                 self.sell_time)


ORDER = ["A", "C", "B", "D", "E", "F"]
TRIPS = [
    RoundTrip("A", "take_profit", D("100"), D("107"), D("0.5"), D("0.5"), D("106.25")),
    RoundTrip("C", "hard_stop", D("100"), D("94"), D("0.5"), D("0.5"), D("95")),
    RoundTrip("B", "take_profit", D("200"), D("212.5"), D("1"), D("1"), D("212.5")),
    RoundTrip("D", "soft_stop", D("100"), D("97.5"), D("0.5"), D("0.5"), D("97.5")),
    RoundTrip("E", "trailing_stop", D("100"), D("104"), D("0.5"), D("0.5"), D("104")),
    RoundTrip("F", "signal", D("100"), D("100.5"), D("0.5"), D("0.5"), None),
]

# A manual sell of 1 unit with no lot left: one missing-basis slice.
ORPHAN_SELL = F("fill-sell-G", "sell-G", SYMBOL, Side.SELL, D("100"), D("1"), D("0.5"),
                START + timedelta(days=6, hours=1))


def session_fills() -> list[F]:
    return [f for t in TRIPS for f in (t.buy, t.sell)] + [ORPHAN_SELL]


def session_slices() -> list[Slice]:
    return [make_slice(t.sell, t.buy, D(1)) for t in TRIPS] + [make_slice(ORPHAN_SELL, None, D(1))]


def exit_reasons() -> dict[str, tuple[str | None, Decimal | None]]:
    reasons: dict[str, tuple[str | None, Decimal | None]] = {t.sell.order_id: (t.reason, t.target) for t in TRIPS}
    reasons[ORPHAN_SELL.order_id] = ("manual", None)
    return reasons


EXPECTED_OVERALL = {
    "trades": 6, "wins": 3, "losses": 3, "win_rate": D("0.5"),
    "avg_win": D("6.5"),  # (6 + 10.5 + 3) / 3
    "avg_loss": D(-11) / 3,  # (−7 − 3.5 − 0.5) / 3
    "total_pnl": D("8.5"),
    "expectancy": D("8.5") / 6,
    "fees_paid": D("7"),  # 1 + 1 + 2 + 1 + 1 + 1
}
