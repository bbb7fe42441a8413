"""Fuzz the alert endpoint over real HTTP: thousands of malformed requests (hypothesis).

Every request is built to be unacceptable: random bytes, random JSON, or a valid alert broken by at
least one mutation (of a value the normaliser reads: unknown keys and unused fields break nothing),
each sent with a right, wrong, missing or path secret. Whatever arrives, the
endpoint must never answer 5xx, never accept (so nothing is ever executed), and never let a secret
reach a log line (events are captured raw, before the redacting processor).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from core.clock import ManualClock
from core.enums import AlertStatus
from tests.integration.webhook_http.support import (
    ADMIN_TOKEN,
    PRODUCTS,
    SECRET,
    SECRET_OLD,
    START,
    Harness,
    alert_body,
    clear_alerts,
    rfc3339,
    start_harness,
    stop_harness,
)
from webhook.alerts.limits import RecordBudget
from webhook.alerts.normalise import BUY_WORDS, CLOSE_WORDS, SELL_WORDS
from webhook.alerts.symbols import SymbolMap

pytestmark = pytest.mark.slow  # thousands of requests; the final check needs the fuzz before it

REAL_SECRETS = (SECRET, SECRET_OLD, ADMIN_TOKEN)
SYMBOLS = SymbolMap.from_products(PRODUCTS)
SENT: dict[str, Any] = {"requests": 0, "statuses": {}}  # shared with the final check
BODY_CLOCK = ManualClock(START)  # the fuzz harness's clock never moves either


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def stdlib_logs() -> Iterator[_Records]:
    handler, root = _Records(), logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture(scope="module")
async def fuzz(db_sessions: async_sessionmaker[AsyncSession], stdlib_logs: _Records) -> AsyncIterator[Harness]:
    await clear_alerts(db_sessions)
    h = await start_harness(db_sessions, alert_rate_limit_per_min=10**6)
    h.deps.record_budget = RecordBudget(per_source=500, total=500)  # store many refusals: exercise the DB
    try:
        yield h
    finally:
        await stop_harness(h)


# ---- building blocks -------------------------------------------------------------------------------------
weird_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ud800", "null", "NaN", "Infinity", "{{close}}", "BUY ", "ｂｕｙ", "BTC/USD",
                     "1e999999", "-0", "0", "9" * 60, "0." + "0" * 40 + "1", "1_000", "٣", "\u202e", "rej:x"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False), weird_text,
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
not_a_string = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3))
bad_amount = st.one_of(
    st.sampled_from(["-1", "0", "0.0", "abc", "1e999999", "1,5", "1_000", " ", "NaN", "Infinity", "0x10",
                     "1e16", "0." + "0" * 40 + "1", "{{strategy.order.contracts}}"]),
    st.integers(max_value=0), st.integers(min_value=10**16), st.booleans(),
    st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars, max_size=2),
)
good_amount = st.sampled_from(["0.001", "1", "12.5"])


def _drop(field: str) -> Any:
    return st.just(lambda body: {k: v for k, v in body.items() if k != field})


def _set(field: str, values: st.SearchStrategy[Any]) -> Any:
    return values.map(lambda value: lambda body: {**body, field: value})


def _set_for_buy(field: str, values: st.SearchStrategy[Any]) -> Any:
    return values.map(lambda value: lambda body: {**body, field: value, "action": "buy"})


def _unknown_ticker(text: str) -> bool:
    try:
        return SYMBOLS.resolve(text) is None
    except Exception:
        return True


def _time_shift(seconds: int) -> Any:
    return lambda body: {**body, "time": rfc3339(START + timedelta(seconds=seconds))}


# Names the normaliser reads (webhook/alerts/normalise.py); any other key is ignored, so it breaks nothing.
READ_NAMES = {"secret", "passphrase", "token", "key", "timenow", "timestamp", "time", "ticker", "symbol", "pair",
              "exchange", "action", "side", "signal", "strategy", "quantity", "qty", "contracts", "notional",
              "quote_size", "price", "close", "signalprice", "trigger_price", "id", "market_position", "source"}
ACTION_WORDS = BUY_WORDS | SELL_WORDS | CLOSE_WORDS
not_text_or_number = st.one_of(st.booleans(), st.lists(scalars, max_size=3),
                               st.dictionaries(st.text(max_size=5), scalars, max_size=3))

# Each mutation alone makes the alert unacceptable (refused, or recorded as stale/rejected — never accepted).
breaking_mutation = st.one_of(
    _drop("ticker"), _drop("action"), _drop("time"),
    _set("ticker", not_a_string | st.text(max_size=12).filter(_unknown_ticker)),
    _set("action", not_a_string | st.text(max_size=8).filter(
        lambda t: t.strip().lower().replace("-", "_").replace(" ", "_") not in ACTION_WORDS)),
    _set("time", not_text_or_number | st.text(max_size=30)),
    _set("id", not_text_or_number | st.sampled_from(["rej:1", "rej:" + "a" * 20, "x" * 129, "{{strategy.order.id}}"])),
    # Sizes and prices refuse an entry; an exit never depends on them (a broken {{close}} must not trap a position).
    _set_for_buy("quantity", bad_amount), _set_for_buy("price", bad_amount),
    _set_for_buy("notional", bad_amount | st.just("1000000")),
    good_amount.map(lambda n: lambda body: {**body, "notional": n, "action": "buy"}),  # quantity and notional
    _set("action", st.sampled_from(["short", "SHORT", "enter_short", "cover"])),  # no shorts on spot
    _set("ticker", st.just("{{ticker}}")),
    st.integers(min_value=61, max_value=10**6).map(lambda s: _time_shift(-s)),  # stale
    st.integers(min_value=6, max_value=10**6).map(_time_shift),  # from the future
)
# Each of these alone is refused but recorded under the alert's own dedup key (the stored-row path).
recorded_mutation = st.one_of(
    st.integers(min_value=61, max_value=10**6).map(lambda s: _time_shift(-s)),
    st.integers(min_value=6, max_value=10**6).map(_time_shift),
    st.just(lambda body: {**{k: v for k, v in body.items() if k != "quantity"}, "notional": "1000000",
                          "action": "buy"}),
    st.just(lambda body: {**body, "quantity": "1", "price": "999999999", "action": "buy"}),  # exits are not capped
)
harmless_mutation = st.one_of(
    _set("strategy", st.dictionaries(weird_text, json_values, max_size=3)),
    _set("exchange", st.sampled_from(["COINBASE", "COINBASE_DL", ""])),
    _set("action", st.sampled_from(["BUY", " sell ", "Close"])),
    _set("ticker", st.sampled_from(["btcusd", "BTC-USD", "COINBASE:ETHUSD", " sol-usd ", "BTCUSDC"])),
    _set("id", weird_text.filter(lambda t: not t.startswith("rej:"))),
    _set("source", st.sampled_from(["sighook", "TradingView"]) | not_a_string),
    _set("exchange", not_a_string | st.just("E" * 41) | st.just("{{exchange}}")),
    _set("strategy", st.one_of(st.lists(scalars, max_size=2), st.integers(), st.text(max_size=5))),
    st.tuples(st.text(min_size=1, max_size=10), json_values)  # unknown keys are ignored
    .filter(lambda kv: kv[0].lower().split(".")[0] not in READ_NAMES)
    .map(lambda kv: lambda body: {**body, kv[0]: kv[1]}),
)
secret_placement = st.sampled_from(["body", "path", "both", "bad_body", "bad_path", "none", "path_bad_body"])
bad_secret = st.one_of(st.text(max_size=64), st.just(SECRET[:-1]), st.just(SECRET + "x"), st.just(SECRET.upper()))
content_type = st.sampled_from(["application/json", "text/plain", "text/plain; charset=utf-8", "",
                                "application/octet-stream", "application/x-www-form-urlencoded"])


@st.composite
def malformed_request(draw: st.DrawFn) -> tuple[str, bytes, str, str | None]:
    """(path, body, content type, bad secret used or None)."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "mutated", "recorded"]))
    placement = draw(secret_placement)
    wrong = draw(bad_secret)
    if kind == "bytes":
        body = draw(st.binary(max_size=600) | st.binary(min_size=4000, max_size=5000))
    elif kind == "json":
        value = draw(json_values)
        if isinstance(value, dict) and placement in ("body", "both"):
            value["secret"] = SECRET
        body = json.dumps(value).encode()
    else:
        base = alert_body(BODY_CLOCK, secret=None)
        for mutate in draw(st.lists(harmless_mutation, max_size=3)):
            base = mutate(base)
        breaking = recorded_mutation if kind == "recorded" else breaking_mutation
        for mutate in draw(st.lists(breaking, min_size=1, max_size=1 if kind == "recorded" else 3)):
            base = mutate(base)
        if placement in ("body", "both"):
            base["secret"] = SECRET
        elif placement in ("bad_body", "path_bad_body"):
            base["secret"] = wrong
        if draw(st.integers(0, 20)) == 0:  # now and then, too big
            base["strategy"] = {"pad": "x" * 5000}
        body = json.dumps(base).encode()
    path = "/webhook"
    if placement in ("path", "both", "path_bad_body"):
        path = f"/webhook/{quote(SECRET, safe='')}"
    elif placement == "bad_path":
        path = f"/webhook/{quote(wrong, safe='')}" if wrong else "/webhook/"
    return path, body, draw(content_type), wrong if placement in ("bad_body", "bad_path", "path_bad_body") else None


@settings(max_examples=700, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(malformed_request(), min_size=2, max_size=6))
async def test_malformed_requests_never_5xx_never_accepted_never_logged(
    fuzz: Harness, stdlib_logs: _Records, batch: list[tuple[str, bytes, str, str | None]]
) -> None:
    with capture_logs() as events:
        for path, body, ctype, _wrong in batch:
            async with fuzz.http.post(fuzz.base + path, data=body, headers={"Content-Type": ctype}) as resp:
                status = resp.status
                reply = await resp.read()
            SENT["requests"] += 1
            SENT["statuses"][status] = SENT["statuses"].get(status, 0) + 1
            assert status < 500, (path[:9], status)
            if status == 200:  # only a replay of a refused-but-recorded (stale, over the cap) alert
                assert json.loads(reply) == {"result": "duplicate"}
    text = repr(events) + "\n".join(stdlib_logs.lines)
    stdlib_logs.lines.clear()
    for secret in REAL_SECRETS:
        assert secret not in text and quote(secret, safe="") not in text
    for *_, wrong in batch:
        if wrong and len(set(wrong)) >= 8:  # distinctive enough not to occur in a log by chance
            assert wrong not in text


async def test_after_the_fuzz_nothing_was_accepted_or_executed(fuzz: Harness) -> None:
    assert SENT["requests"] >= 2000, SENT
    assert len(SENT["statuses"]) >= 5  # the mix reached many refusal paths (400, 401, 404, 413, 422, …)
    rows = await fuzz.rows()
    assert all(r.status != AlertStatus.ACCEPTED.value for r in rows)
    assert await fuzz.drain() == 0 and fuzz.executor.calls == []
    for row in rows:
        dumped = json.dumps(row.payload) + (row.status_reason or "")
        assert SECRET not in dumped and SECRET_OLD not in dumped
