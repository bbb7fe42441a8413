"""The Coinbase Advanced Trade clients (REST adapter, WebSocket feeds) built from a CoinbaseConfig, for
live Coinbase and the simulator alike."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlsplit

from exchange.coinbase.auth import ws_jwt_factory
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.coinbase.ws_feed import EventHandler, OutageHook, ReconcileHook, WsFeed

__all__ = ["CoinbaseConfig", "CoinbaseRestAdapter", "WsFeed", "build_feed", "build_rest_adapter", "ws_ssl_context"]


def build_rest_adapter(config: CoinbaseConfig) -> CoinbaseRestAdapter:
    return CoinbaseRestAdapter(config)


def ws_ssl_context(config: CoinbaseConfig, url: str) -> ssl.SSLContext | None:
    """TLS for wss:// with certificate verification (the SDK verifies nothing); the simulator's CA when set."""
    if urlsplit(url).scheme != "wss":
        return None
    if config.ca_file is not None:
        return ssl.create_default_context(cafile=str(config.ca_file))
    return ssl.create_default_context()


def build_feed(config: CoinbaseConfig, feed: Literal["market", "user"], channels: Sequence[str],
               product_ids: Sequence[str], on_event: EventHandler, stop: asyncio.Event, *,
               on_reconcile: ReconcileHook | None = None, on_outage: OutageHook | None = None) -> WsFeed:
    """A feed manager for the market or user WebSocket; `await feed.run()` until `stop` is set."""
    if feed not in ("market", "user"):
        raise ValueError(f"feed must be 'market' or 'user', got {feed!r}")
    url = config.ws_market_url if feed == "market" else config.ws_user_url
    return WsFeed(
        feed, url, channels, product_ids, on_event, stop,
        jwt_factory=ws_jwt_factory(config.api_key, config.api_secret),
        ssl_context=ws_ssl_context(config, url),
        heartbeat_timeout_s=config.ws_heartbeat_timeout_s,
        backoff_base_s=config.ws_backoff_base_s,
        backoff_max_s=config.ws_backoff_max_s,
        open_timeout_s=config.ws_open_timeout_s,
        outage_alert_interval_s=config.ws_outage_alert_interval_s,
        on_reconcile=on_reconcile,
        on_outage=on_outage,
    )
