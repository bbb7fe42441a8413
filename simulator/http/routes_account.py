"""Accounts, transaction summary (fee tier), key permissions."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from core.money import fmt
from simulator.engine.matching import MatchingEngine
from simulator.http.common import PREFIX, ctx_of, key_of
from simulator.http.errors import json_response, not_found
from simulator.http.params import Query
from simulator.http.render import account_json
from simulator.keys import KeyPermissions

ZERO = Decimal(0)


async def list_accounts(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    cfg = ctx.config
    limit = min(q.integer("limit", cfg.accounts_page_default, minimum=0) or cfg.accounts_page_default,
                cfg.accounts_page_max)
    offset = q.cursor()
    wallets = sorted(ctx.engine.ledger.wallets.values(), key=lambda w: (w.currency != "USD", w.currency))
    page = wallets[offset:offset + limit]
    has_next = offset + limit < len(wallets)
    portfolio = ctx.engine.config.portfolio_id
    now = ctx.now()
    return json_response({"accounts": [account_json(w, portfolio, now) for w in page], "has_next": has_next,
                          "cursor": str(offset + limit) if has_next else "", "size": len(page)})


async def get_account(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    uuid = request.match_info["account_uuid"]
    wallet = next((w for w in ctx.engine.ledger.wallets.values() if w.uuid == uuid), None)
    if wallet is None:
        return not_found("account not found")
    return json_response({"account": account_json(wallet, ctx.engine.config.portfolio_id, ctx.now())})


def _usd_value(engine: MatchingEngine, currency: str, amount: Decimal) -> Decimal:
    if currency in ("USD", "USDC"):
        return amount
    market = engine.market(f"{currency}-USD")
    return amount * market.price if market is not None else ZERO


async def transaction_summary(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    cfg, engine = ctx.config, ctx.engine
    volume = sum((f.price * f.size for f in engine.fills if f.trade_type == "FILL"), ZERO)
    fees = sum((f.commission for f in engine.fills if f.trade_type == "FILL"), ZERO)
    balance = sum((_usd_value(engine, c, a + h) for c, (a, h) in engine.balances().items()), ZERO)
    # total_volume / total_fees are JSON numbers in production (display only; never used for money here).
    as_number = float
    return json_response({
        "total_volume": as_number(volume), "total_fees": as_number(fees),
        "fee_tier": {"pricing_tier": cfg.pricing_tier, "usd_from": "0", "usd_to": "10000",
                     "taker_fee_rate": fmt(cfg.taker_fee_rate), "maker_fee_rate": fmt(cfg.maker_fee_rate),
                     "aop_from": "0", "aop_to": "1000000",
                     "volume_types_and_range": [{"volume_types": ["VOLUME_TYPE_SPOT", "VOLUME_TYPE_US_DERIVATIVES"],
                                                 "vol_from": "0", "vol_to": "10000"}]},
        "margin_rate": None, "goods_and_services_tax": None,
        "advanced_trade_only_volume": as_number(volume), "advanced_trade_only_fees": as_number(fees),
        "coinbase_pro_volume": 0, "coinbase_pro_fees": 0,
        "total_balance": fmt(balance.quantize(Decimal("0.01"))), "has_promo_fee": False,
        "volume_breakdown": [{"volume_type": "VOLUME_TYPE_SPOT", "volume": as_number(volume)},
                             {"volume_type": "VOLUME_TYPE_US_DERIVATIVES", "volume": 0}],
    })


async def key_permissions(request: web.Request) -> web.Response:
    key = key_of(request)
    perms = key.permissions if key is not None else KeyPermissions()
    # One account per simulator: every key belongs to its portfolio (the paper account's identity).
    return json_response(perms.to_json() | {"portfolio_uuid": ctx_of(request).engine.config.portfolio_id})


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/accounts", list_accounts)
    app.router.add_get(f"{PREFIX}/accounts/{{account_uuid}}", get_account)
    app.router.add_get(f"{PREFIX}/transaction_summary", transaction_summary)
    app.router.add_get(f"{PREFIX}/key_permissions", key_permissions)
