"""`CoinbaseRestAdapter`: the ExchangePort over coinbase-advanced-py's RESTClient.

The SDK is synchronous (requests), so every call runs in a worker thread with a per-thread client
(requests sessions are not guaranteed thread-safe), always with a timeout. Failures are classified
once and retried by `retry_policy` (bounded, jittered); the client-side token buckets keep us under
Coinbase's limits. Everything returned is our own frozen dataclasses, never SDK objects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from multiprocessing import AuthenticationError
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from coinbase.rest import RESTClient

from core.clock import Clock, SystemClock, format_rfc3339
from core.logging import get_logger, mask_key
from core.metrics import REST_FAILURES, REST_RETRIES
from exchange.coinbase import rest_mapping as m
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rate_limiter import RateLimiter
from exchange.coinbase.retry_policy import Failure, FailureCause, RetryPolicy, classify_http, next_step
from exchange.models import (
    Balance,
    CancelResult,
    Candle,
    EditRequest,
    EditResult,
    FeeTier,
    Fill,
    KeyPermissions,
    Order,
    OrderRequest,
    OrderResult,
    Page,
    PreviewResult,
    Product,
    Quote,
)
from exchange.paging import all_fills
from exchange.port import ExchangeBadRequest, ExchangeError, ExchangePort, ExchangeUnavailable

log = get_logger(__name__)
T = TypeVar("T")

MAX_CANCEL_BATCH = 100
MAX_PAGE = 250
# The SDK logs every HTTP error (with the body) on its own stdlib logger; we log once, structured.
logging.getLogger("coinbase.RESTClient").setLevel(logging.CRITICAL)


def make_sdk_client(config: CoinbaseConfig) -> RESTClient:
    client = RESTClient(api_key=config.api_key or None, api_secret=config.api_secret or None,
                        base_url=config.rest_host, timeout=config.rest_timeout_s,
                        rate_limit_headers=True)
    if config.ca_file is not None:
        # trust_env=False, or REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would override session.verify.
        client.session.trust_env = False
        client.session.verify = str(config.ca_file)
    return client


class CoinbaseRestAdapter:
    """ExchangePort implementation (exchange.port.ExchangePort) for Coinbase and the simulator."""

    def __init__(self, config: CoinbaseConfig, *, clock: Clock | None = None, rng: random.Random | None = None,
                 client_factory: Callable[[], RESTClient] | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._policy = RetryPolicy(config.rest_max_retries, config.rest_backoff_base_s, config.rest_backoff_max_s)
        self._limiter = RateLimiter(config.rate_private_per_s, config.rate_public_per_s, clock=self._clock)
        self._factory = client_factory or (lambda: make_sdk_client(config))
        self._local = threading.local()
        # Backstop only: requests' own timeout fires first; a stuck thread is abandoned, not awaited.
        self._deadline_s = config.rest_timeout_s * 3 + 1
        log.info("rest_adapter_ready", host=config.rest_host, mode=config.mode.value,
                 key=mask_key(config.api_key) if config.api_key else "", ca_file=str(config.ca_file or ""))

    # ---- transport -----------------------------------------------------------------------------

    def _client(self) -> RESTClient:
        client: RESTClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
        return client

    def _invoke(self, fn: Callable[[RESTClient], Any]) -> dict[str, Any]:
        resp = fn(self._client())
        return resp.to_dict() if hasattr(resp, "to_dict") else dict(resp)

    async def _call(self, op: str, fn: Callable[[RESTClient], Any], *, public: bool = False,
                    parse: Callable[[dict[str, Any]], T] | None = None) -> T:
        """Run one SDK call with rate limiting, timeout and bounded retries; map the JSON with `parse`."""
        attempt = auth_attempts = 0
        causes: set[FailureCause] = set()
        while True:
            await self._limiter.acquire(public)
            cause: BaseException
            try:
                data = await asyncio.wait_for(asyncio.to_thread(self._invoke, fn), self._deadline_s)
            except Exception as exc:
                failure, cause = self._classify(exc), exc
            else:
                if parse is None:
                    return data  # type: ignore[return-value]
                try:
                    return parse(data)
                except m.AmbiguousCreateResponse as exc:  # the order may exist: retry with the same id
                    failure, cause = Failure(FailureCause.INVALID_RESPONSE, str(exc)), exc
                except (ValueError, KeyError, TypeError) as exc:
                    REST_FAILURES.labels(cause=FailureCause.INVALID_RESPONSE.value).inc()
                    log.error("rest_response_malformed", op=op, error=f"{type(exc).__name__}: {exc}")
                    raise ExchangeError(f"{op}: malformed response: {exc}") from exc
            decision = next_step(failure, attempt, auth_attempts, self._policy, self._rng.random())
            causes.add(failure.cause)
            if not decision.retry:
                REST_FAILURES.labels(cause=failure.cause.value).inc()
                log.warning("rest_call_failed", op=op, cause=failure.cause.value, status=failure.status,
                            error=failure.message, attempts=attempt + auth_attempts + 1)
                error = decision.error or ExchangeError(failure.message)
                if isinstance(error, ExchangeUnavailable):
                    # Only when every attempt was refused with 429 do we know nothing happened.
                    error.not_processed = causes == {FailureCause.RATE_LIMITED}
                raise error from cause
            if failure.cause is FailureCause.UNAUTHORIZED:
                auth_attempts += 1
            else:
                attempt += 1
            REST_RETRIES.labels(cause=failure.cause.value).inc()
            log.info("rest_retry", op=op, cause=failure.cause.value, status=failure.status, attempt=attempt,
                     delay_s=round(decision.delay_s, 3))
            if decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)

    def _classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            resp = exc.response
            return classify_http(resp.status_code, resp.text or "", resp.headers, self._clock.now().timestamp())
        if isinstance(exc, requests.Timeout | TimeoutError):
            return Failure(FailureCause.TIMEOUT, f"timeout: {exc}")
        if isinstance(exc, requests.ConnectionError):
            return Failure(FailureCause.CONNECTION, f"connection error: {exc}")
        if isinstance(exc, AuthenticationError):
            return Failure(FailureCause.CLIENT, f"no API key for a private endpoint: {exc}")
        if isinstance(exc, ValueError | KeyError | TypeError):
            # Non-JSON 2xx, or the SDK choking on an unexpected shape (e.g. a null list).
            return Failure(FailureCause.INVALID_RESPONSE, f"invalid response: {type(exc).__name__}: {exc}")
        return Failure(FailureCause.CONNECTION, f"{type(exc).__name__}: {exc}")

    # ---- market data ---------------------------------------------------------------------------

    async def get_products(self) -> list[Product]:
        data: dict[str, Any] = await self._call("get_products", lambda c: c.get_products(product_type="SPOT"))
        out = []
        for raw in data.get("products") or []:
            try:
                out.append(m.product_from(raw))
            except (KeyError, ValueError) as exc:  # one odd product must not hide the rest
                log.warning("product_skipped", product_id=raw.get("product_id"), error=str(exc))
        return out

    async def get_product(self, product_id: str) -> Product:
        return await self._call("get_product", lambda c: c.get_product(product_id), parse=m.product_from)

    async def get_best_bid_ask(self, product_ids: Sequence[str]) -> list[Quote]:
        ids = list(product_ids) or None
        now = self._clock.now()

        def parse(data: dict[str, Any]) -> list[Quote]:
            quotes = [m.quote_from_pricebook(book, now) for book in data.get("pricebooks") or []]
            return [q for q in quotes if q is not None]

        return await self._call("get_best_bid_ask", lambda c: c.get_best_bid_ask(product_ids=ids), parse=parse)

    async def get_candles(self, product_id: str, start: datetime, end: datetime, granularity: str) -> list[Candle]:
        """Candles in [start, end], oldest first; ranges over 300 buckets are fetched in several requests."""
        try:
            windows = m.candle_windows(int(start.timestamp()), int(end.timestamp()), granularity)
        except ValueError as exc:
            raise ExchangeBadRequest(str(exc)) from exc
        by_start: dict[datetime, Candle] = {}
        for lo, hi in windows:
            candles = await self._call("get_candles", _sdk("get_candles", product_id, start=str(lo), end=str(hi),
                                                                granularity=granularity),
                parse=lambda d: [m.candle_from(raw) for raw in d.get("candles") or []])
            for candle in candles:
                by_start[candle.start] = candle
        return [by_start[k] for k in sorted(by_start)]

    # ---- orders --------------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> OrderResult:
        """Idempotent: retries resend the SAME client_order_id, and Coinbase returns the existing order.

        success=False is a business rejection (nothing was created). ExchangeUnavailable means the
        outcome is unknown: the order may exist; call again with the same request (safe) or reconcile.
        """
        if not request.client_order_id:
            # The SDK would invent a random id, which makes a retry a second order.
            raise ExchangeBadRequest("create_order needs a client_order_id (deterministic, persisted before sending)")
        try:
            config = m.order_configuration_for(request)
        except ValueError as exc:
            raise ExchangeBadRequest(str(exc)) from exc
        coid = request.client_order_id
        result: OrderResult = await self._call(
            "create_order",
            lambda c: c.create_order(client_order_id=coid, product_id=request.product_id,
                                     side=request.side.value, order_configuration=config),
            parse=lambda d: m.order_result_from(d, coid))
        if result.success:
            log.info("order_created", client_order_id=coid, order_id=result.order_id, product_id=request.product_id,
                     side=request.side.value, kind=request.kind.value)
        else:
            log.warning("order_rejected", client_order_id=coid, product_id=request.product_id, error=result.error,
                        failure_reason=result.failure_reason, message=result.message)
        return result

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        ids = list(dict.fromkeys(order_ids))
        results: list[CancelResult] = []
        for i in range(0, len(ids), MAX_CANCEL_BATCH):
            chunk = ids[i:i + MAX_CANCEL_BATCH]
            results.extend(await self._call(
                "cancel_orders", _sdk("cancel_orders", order_ids=chunk),
                parse=lambda d: [m.cancel_result_from(r) for r in d.get("results") or []]))
        return results

    async def edit_order(self, request: EditRequest) -> EditResult:
        """In-place edit (see ExchangePort.edit_order). Retries re-send the same target values, so an
        edit that landed before a timeout answers EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST → success."""
        if request.size <= 0 or request.price <= 0:
            raise ExchangeBadRequest("edit_order needs a positive size and price (Coinbase reads a missing size as 0)")
        body = m.edit_body(request)
        result: EditResult = await self._call(
            "edit_order", lambda c: c.edit_order(**body), parse=lambda d: m.edit_result_from(d, request.order_id))
        if result.success:
            log.info("order_edited", order_id=request.order_id, size=body["size"], price=body["price"],
                     stop_price=body.get("stop_price") or body.get("stop_trigger_price"),
                     already_applied=result.already_applied)
        else:
            log.warning("order_edit_refused", order_id=request.order_id, reason=result.reason,
                        preview_reason=result.preview_reason)
        return result

    async def preview_order(self, request: OrderRequest) -> PreviewResult:
        try:
            config = m.order_configuration_for(request)
        except ValueError as exc:
            raise ExchangeBadRequest(str(exc)) from exc
        return await self._call("preview_order", lambda c: c.preview_order(
            product_id=request.product_id, side=request.side.value, order_configuration=config),
            parse=m.preview_result_from)

    async def get_order(self, order_id: str) -> Order:
        return await self._call("get_order", lambda c: c.get_order(order_id),
                                parse=lambda d: m.order_from(d["order"]))

    async def list_orders(self, product_id: str | None = None, statuses: Sequence[str] = (),
                          cursor: str | None = None, limit: int = 250) -> Page[Order]:
        status_list = [str(s).upper() for s in statuses]
        if "OPEN" in status_list and len(status_list) > 1:
            raise ExchangeBadRequest("list_orders: OPEN cannot be combined with other statuses; query it separately")

        def parse(data: dict[str, Any]) -> Page[Order]:
            next_cursor = data.get("cursor") or None
            return Page([m.order_from(o) for o in data.get("orders") or []], next_cursor,
                        bool(data.get("has_next")) and next_cursor is not None)

        return await self._call("list_orders", lambda c: c.list_orders(
            product_ids=[product_id] if product_id else None, order_status=status_list or None,
            limit=max(1, min(limit, 1000)), cursor=cursor or None), parse=parse)

    async def list_fills(self, order_ids: Sequence[str] = (), product_id: str | None = None,
                         start: datetime | None = None, cursor: str | None = None,
                         limit: int = 250) -> Page[Fill]:

        def parse(data: dict[str, Any]) -> Page[Fill]:
            next_cursor = data.get("cursor") or None  # no has_next on fills: an empty cursor is the last page
            return Page([m.fill_from(f) for f in data.get("fills") or []], next_cursor, next_cursor is not None)

        return await self._call("list_fills", lambda c: c.get_fills(
            order_ids=list(order_ids) or None, product_ids=[product_id] if product_id else None,
            start_sequence_timestamp=format_rfc3339(start) if start else None,
            limit=max(1, min(limit, MAX_PAGE)), cursor=cursor or None), parse=parse)

    async def fetch_all_fills(self, order_ids: Sequence[str] = (), product_id: str | None = None,
                              start: datetime | None = None) -> list[Fill]:
        """Every page of list_fills (bounded), deduplicated by trade_id."""
        return await all_fills(self, order_ids=order_ids, product_id=product_id, start=start)

    # ---- account -------------------------------------------------------------------------------

    async def get_balances(self) -> dict[str, Balance]:
        accounts: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(100):  # bounded paging
            data: dict[str, Any] = await self._call(
                "get_accounts", _sdk("get_accounts", limit=MAX_PAGE, cursor=cursor))
            accounts.extend(data.get("accounts") or [])
            cursor = data.get("cursor") or None
            if not data.get("has_next") or cursor is None:
                break
        try:
            return m.balances_from(accounts)
        except ValueError as exc:
            raise ExchangeError(f"get_accounts: malformed response: {exc}") from exc

    async def get_fee_tier(self) -> FeeTier:
        return await self._call("get_transaction_summary", lambda c: c.get_transaction_summary(),
                                parse=m.fee_tier_from)

    async def get_key_permissions(self) -> KeyPermissions:
        return await self._call("get_api_key_permissions", lambda c: c.get_api_key_permissions(),
                                parse=m.key_permissions_from)

    async def get_server_time(self) -> datetime:
        return await self._call("get_unix_time", lambda c: c.get_unix_time(), public=True,
                                parse=m.server_time_from)


def _sdk(method: str, *args: Any, **kwargs: Any) -> Callable[[RESTClient], Any]:
    """A call of one SDK method with arguments bound now (safe inside loops)."""
    return lambda client: getattr(client, method)(*args, **kwargs)


if TYPE_CHECKING:
    def _conforms_to_port(adapter: CoinbaseRestAdapter) -> ExchangePort:
        return adapter  # mypy proves the adapter implements the port
