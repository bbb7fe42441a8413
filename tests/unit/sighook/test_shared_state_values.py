"""shared_state's pure parts: JSON safety and parsing the market_data document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared_data.shared_state import (
    MARKET_DATA_SCHEMA_VERSION,
    jsonable,
    market_data_payload,
    parse_market_data,
)
from sighook.matrix import MATRIX_SCHEMA, MATRIX_SCHEMA_VERSION

COMPUTED = datetime(2026, 11, 21, 15, 0, 7, tzinfo=UTC)


def document(rows: dict[str, dict[str, object]]) -> dict[str, object]:
    matrix = {"schema": MATRIX_SCHEMA, "schema_version": MATRIX_SCHEMA_VERSION, "computed_at": "2026-11-21T15:00:07Z",
              "rows": rows}
    return json.loads(json.dumps(jsonable(market_data_payload(matrix, {"BTC-USD": {"price": Decimal("1.50")}},
                                                               COMPUTED))))


def test_jsonable_turns_decimals_and_times_into_strings() -> None:
    value = {"a": Decimal("0.000000010"), "t": datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
             "l": (Decimal("1E+3"), 2, "x", None, True)}
    assert jsonable(value) == {"a": "0.00000001", "t": "2026-01-01T00:00:00Z", "l": ["1000", 2, "x", None, True]}
    for bad in (Decimal("NaN"), float("inf"), datetime(2026, 1, 1)):
        with pytest.raises(ValueError):
            jsonable({"x": bad})


def test_parse_market_data_gives_the_sentinel_view() -> None:
    doc = document({"BTC-USD": {"decision": "sell", "atr": "41.5"}, "ETH-USD": {"decision": "buy", "atr": "2"}})
    assert doc["schema_version"] == MARKET_DATA_SCHEMA_VERSION
    assert doc["tickers"] == {"BTC-USD": {"price": "1.5"}}
    snap = parse_market_data(doc)
    assert snap.computed_at == COMPUTED
    btc = snap.signals["BTC-USD"]
    assert btc.sell is True and btc.atr == Decimal("41.5") and btc.as_of == COMPUTED
    assert snap.signals["ETH-USD"].sell is False
    assert snap.matrix["rows"]["BTC-USD"]["decision"] == "sell"


def test_parse_market_data_refuses_other_versions_and_shapes() -> None:
    with pytest.raises(ValueError, match="schema_version"):
        parse_market_data({"schema_version": 2})
    with pytest.raises(ValueError, match="buy_sell_matrix"):
        parse_market_data({"schema_version": MARKET_DATA_SCHEMA_VERSION})
    bad = document({"BTC-USD": {"decision": "sell", "atr": "not a number"}})
    with pytest.raises(ValueError, match="malformed"):
        parse_market_data(bad)
