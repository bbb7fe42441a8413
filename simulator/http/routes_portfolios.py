"""GET /portfolios and GET /portfolios/{uuid} (reference §3.15): one DEFAULT portfolio holding every wallet."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from core.money import fmt
from simulator.http.common import PREFIX, ctx_of
from simulator.http.errors import invalid_argument, json_response, not_found
from simulator.http.render import FIAT

USD = "USD"
PORTFOLIO_TYPES = ("UNDEFINED", "DEFAULT", "CONSUMER", "INTX")


def _portfolio(uuid: str) -> dict[str, Any]:
    return {"name": "Default", "uuid": uuid, "type": "DEFAULT", "deleted": False}


async def list_portfolios(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    wanted = request.query.get("portfolio_type")
    if wanted is not None and wanted not in PORTFOLIO_TYPES:
        return invalid_argument(f"invalid portfolio_type {wanted!r}")
    portfolios = [] if wanted not in (None, "UNDEFINED", "DEFAULT") else [_portfolio(ctx.engine.config.portfolio_id)]
    return json_response({"portfolios": portfolios})


def _money(value: Decimal, currency: str = USD) -> dict[str, str]:
    return {"value": fmt(value), "currency": currency}


async def portfolio_breakdown(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    engine = ctx.engine
    uuid = request.match_info["portfolio_uuid"]
    if uuid != engine.config.portfolio_id:
        return not_found("portfolio not found")
    positions: list[dict[str, Any]] = []
    total = cash = crypto = Decimal(0)
    for currency, wallet in sorted(engine.ledger.wallets.items()):
        amount = wallet.available + wallet.hold
        market = engine.markets.get(f"{currency}-{USD}")
        price = Decimal(1) if currency == USD else (market.price if market is not None else Decimal(0))
        fiat_value = amount * price
        is_cash = currency in FIAT
        total += fiat_value
        if is_cash:
            cash += fiat_value
        else:
            crypto += fiat_value
        positions.append({
            "asset": currency, "account_uuid": wallet.uuid, "total_balance_fiat": float(fiat_value),
            "total_balance_crypto": float(amount), "available_to_trade_fiat": float(wallet.available * price),
            "allocation": 0.0, "cost_basis": _money(Decimal(0)), "asset_img_url": "", "is_cash": is_cash,
            "average_entry_price": _money(Decimal(0)), "asset_uuid": "",
            "available_to_trade_crypto": float(wallet.available), "unrealized_pnl": 0.0,
            "available_to_transfer_fiat": float(wallet.available * price),
            "available_to_transfer_crypto": float(wallet.available), "asset_color": "",
            "account_type": "ACCOUNT_TYPE_FIAT" if is_cash else "ACCOUNT_TYPE_CRYPTO",
        })
    for p in positions:  # JSON numbers, as Coinbase sends these fields
        p["allocation"] = float(Decimal(str(p["total_balance_fiat"])) / total) if total > 0 else 0.0
    breakdown = {
        "portfolio": _portfolio(uuid),
        "portfolio_balances": {"total_balance": _money(total), "total_futures_balance": _money(Decimal(0)),
                               "total_cash_equivalent_balance": _money(cash), "total_crypto_balance": _money(crypto),
                               "futures_unrealized_pnl": _money(Decimal(0)),
                               "perp_unrealized_pnl": _money(Decimal(0))},
        "spot_positions": positions, "perp_positions": [], "futures_positions": [],
    }
    return json_response({"breakdown": breakdown})


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/portfolios", list_portfolios)
    app.router.add_get(f"{PREFIX}/portfolios/{{portfolio_uuid}}", portfolio_breakdown)
