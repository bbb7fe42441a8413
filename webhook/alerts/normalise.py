"""The one normaliser: every accepted field name and form onto one `Alert` value. No I/O.

Liberal in names, strict in values. Keys match case-insensitively, at the top level or nested
(`{"strategy":{"order":{"action":…}}}` and a literal `"strategy.order.action"` key are the same).
The first alias present (in table order) wins. Unknown keys are ignored (the endpoint keeps them in
the stored, masked body). A `{{placeholder}}` left unfilled is an error only in a field read here.
The alias table is README "Alert messages"; keep the two in step.

Fire time and TradingView's `{{time}}`: `{{time}}` is the *bar's* open time, `{{timenow}}` the
firing time. The staleness window applies to the fire time, taken from `timenow`, else
`timestamp`, else `time`. When `time` appears beside `timenow`/`timestamp` it is read as the bar
time and only recorded. When `time` is the only one, it is taken as the fire time (the template in
the reference puts `{{timenow}}` there); if it really holds a bar time, the alert is usually
refused as stale, and the refusal says to send `{{timenow}}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.clock import parse_rfc3339
from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.schema import MAX_ID_LENGTH, REJECTED_KEY_PREFIX, Alert, AlertAction, AlertSource, parse_amount

# Accepted names per field, in precedence order (dotted = nested under those keys).
SECRET_KEYS = ("secret", "passphrase", "token", "key")
FIRE_TIME_KEYS = ("timenow", "timestamp", "time")
SYMBOL_KEYS = ("ticker", "symbol", "pair", "tv_instrument")
EXCHANGE_KEYS = ("exchange",)
ACTION_KEYS = ("action", "side", "signal", "strategy.order.action", "strategy.order_action")
BASE_SIZE_KEYS = ("quantity", "qty", "contracts", "strategy.order.contracts", "strategy.order_contracts")
QUOTE_SIZE_KEYS = ("notional", "quote_size")
PRICE_KEYS = ("price", "close", "strategy.order.price", "strategy.order_price", "signalprice", "trigger_price")
ID_KEYS = ("id", "strategy.order.id", "strategy.order_id")
POSITION_KEYS = ("strategy.market_position", "market_position")
SOURCE_KEYS = ("source",)

# Action words (lower case) → what a spot account does with them.
BUY_WORDS = frozenset({"buy", "long", "enter_long", "open_long", "entry"})
SELL_WORDS = frozenset({"sell"})
CLOSE_WORDS = frozenset({"close", "exit", "flat", "exit_long", "close_long", "close_all"})
SHORT_WORDS = frozenset({"short", "enter_short", "open_short", "sell_short", "exit_short", "close_short", "cover"})
SPOT_SHORT = "short selling is not possible on a Coinbase spot account; only long entries and exits are traded"

_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
_EPOCH = re.compile(r"^\d{10}(\d{3})?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
MAX_TICKER = 40


class Fields:
    """Case-insensitive lookup over a JSON object, nested objects reachable by dotted names.
    Built once per request: the endpoint reads the secret from it, then the rest of the alert."""

    __slots__ = ("_flat",)

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self._flat: dict[str, tuple[str, Any]] = {}
        self._add(obj, "", "", 0)

    def _add(self, obj: Mapping[str, Any], prefix: str, shown: str, depth: int) -> None:
        flat = self._flat
        for key, value in obj.items():
            label = shown + key  # JSON keys are always strings
            name = prefix + key.lower()
            if name not in flat:
                flat[name] = (label, value)
            if depth < 3 and type(value) is dict:
                self._add(value, name + ".", label + ".", depth + 1)

    def first(self, names: Iterable[str]) -> tuple[str, Any] | None:
        """(the key as sent, its value) of the first alias present with a non-empty value."""
        flat = self._flat
        for name in names:
            found = flat.get(name)
            if found is not None and found[1] is not None and found[1] != "":
                return found
        return None


def secret_in(fields: Fields) -> tuple[str, Any] | None:
    """The body's secret (first alias present), before anything else is read."""
    return fields.first(SECRET_KEYS)


def normalise_json(obj: Mapping[str, Any], fields: Fields | None = None) -> Alert | Refusal:
    """A decoded JSON body → Alert, or the parse-stage refusal (size/price problems ride on
    `Alert.problem`, reported after the product and staleness checks)."""
    if fields is None:
        fields = Fields(obj)
    try:
        source = _source(fields)
        ticker = _ticker(fields)
        action = _action(fields)
        fire = fields.first(FIRE_TIME_KEYS)
        if fire is None:
            raise Refused(Refusal(Reason.MISSING_FIELD, "the fire time is missing: add "
                                   '"timenow":"{{timenow}}" (also read as "timestamp" or "time")', "timenow"))
        fire_key, fire_value = fire
        fire_time = parse_time(fire_key, fire_value)
        bar_time = None
        if fire_key.lower() != "time" and (bar := fields.first(("time",))) is not None:
            bar_time = parse_time(bar[0], bar[1])
        exchange = _optional_text(fields, EXCHANGE_KEYS, check_placeholder=False)
        ident, id_from_strategy = _id(fields)
    except Refused as refused:
        return refused.refusal
    quantity, notional, price, problem = _sizes(fields, action)
    strategy = obj.get("strategy") if isinstance(obj.get("strategy"), dict) else None
    secret = secret_in(fields)
    return Alert(
        ticker=ticker, action=action, time=fire_time, source=source, exchange=exchange, id=ident,
        quantity=quantity, notional=notional, price=price, strategy=strategy,
        secret=secret[1] if secret and isinstance(secret[1], str) else None, form="json",
        time_field=fire_key, bar_time=bar_time, id_from_strategy=id_from_strategy, problem=problem,
    )


class Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _text(key: str, value: Any) -> str:
    """A used field's value as text; refuses non-text values and unfilled placeholders."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Refused(Refusal(Reason.BAD_VALUE, f"{key} must be a string", key))
    text = value.strip() if type(value) is str else str(value)
    if "{{" in text and _PLACEHOLDER.search(text):
        raise Refused(unfilled(key))
    return text


def unfilled(key: str) -> Refusal:
    return Refusal(Reason.UNFILLED_PLACEHOLDER, f"{key} still holds a {{{{placeholder}}}}: TradingView did not fill "
                   "it in (is it a strategy placeholder in an indicator alert?)", key)


def _optional_text(fields: Fields, names: Iterable[str], *, check_placeholder: bool = True) -> str | None:
    found = fields.first(names)
    if found is None:
        return None
    key, value = found
    if not check_placeholder:
        return str(value).strip()[:40] if isinstance(value, str) else None
    return _text(key, value)


def _source(fields: Fields) -> AlertSource:
    found = fields.first(SOURCE_KEYS)
    if found is None:
        return "tradingview"
    # Only sighook is told apart (its own default entry size); any other sender is TradingView-like.
    return "sighook" if _text(found[0], found[1]).lower() == "sighook" else "tradingview"


def _ticker(fields: Fields) -> str:
    found = fields.first(SYMBOL_KEYS)
    if found is None:
        raise Refused(Refusal(Reason.MISSING_FIELD, 'the symbol is missing: add "ticker":"{{ticker}}"', "ticker"))
    text = _text(*found)
    if not text or len(text) > MAX_TICKER:
        raise Refused(Refusal(Reason.BAD_VALUE, f"{found[0]} is not a symbol", found[0]))
    return text


def _action(fields: Fields) -> AlertAction:
    found = fields.first(ACTION_KEYS)
    if found is None:
        raise Refused(Refusal(Reason.MISSING_FIELD, 'the action is missing: add "action":"buy" (or sell, close, '
                               '{{strategy.order.action}})', "action"))
    key = found[0]
    action = action_word(_text(*found), key)
    position = fields.first(POSITION_KEYS)
    if position is None:
        return action
    pos_key = position[0]
    market = _text(*position).lower()
    if market not in ("long", "flat", "short"):
        raise Refused(Refusal(Reason.BAD_VALUE, f"{pos_key} must be long, flat or short", pos_key))
    if market == "short":
        raise Refused(Refusal(Reason.UNSUPPORTED_ACTION, f"{pos_key} is short: {SPOT_SHORT}", pos_key))
    if market == "flat" and action == "sell":
        return "close"  # the strategy is out entirely: sell the whole position, not just its contracts
    if market == "flat" and action == "buy":
        raise Refused(Refusal(Reason.UNSUPPORTED_ACTION, f"a buy that leaves {pos_key} flat covers a short: "
                               f"{SPOT_SHORT}", pos_key))
    return action


def action_word(text: str, key: str) -> AlertAction:
    word = text.strip().lower().replace("-", "_").replace(" ", "_")
    if word in BUY_WORDS:
        return "buy"
    if word in SELL_WORDS:
        return "sell"
    if word in CLOSE_WORDS:
        return "close"
    if word in SHORT_WORDS:
        raise Refused(Refusal(Reason.UNSUPPORTED_ACTION, f"{key} asks for a short: {SPOT_SHORT}", key))
    raise Refused(Refusal(Reason.BAD_VALUE, f"{key} must be buy, sell, close, exit, long or flat", key))


def parse_time(key: str, value: Any) -> datetime:
    if isinstance(value, bool):
        raise Refused(Refusal(Reason.BAD_VALUE, f"{key} must be a time", key))
    text = _text(key, value)
    if _EPOCH.match(text):  # Pine's `time`/`timenow` as numbers: epoch seconds or milliseconds
        seconds = Decimal(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    if not _RFC3339.match(text):
        raise Refused(Refusal(Reason.BAD_VALUE, f"{key} must be a time like 2026-11-21T15:00:00Z "
                               "({{timenow}}) or epoch seconds", key))
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise Refused(Refusal(Reason.BAD_VALUE, f"{key} is not a valid date and time", key)) from None


def _id(fields: Fields) -> tuple[str | None, bool]:
    found = fields.first(ID_KEYS)
    if found is None:
        return None, False
    key, value = found
    text = _text(key, value)
    if len(text) > MAX_ID_LENGTH or text.startswith(REJECTED_KEY_PREFIX):
        raise Refused(Refusal(Reason.BAD_VALUE, f"{key} must be at most {MAX_ID_LENGTH} characters and not "
                               f"start with '{REJECTED_KEY_PREFIX}'", key))
    return (text or None), key.lower() != "id"


def _sizes(fields: Fields, action: AlertAction
           ) -> tuple[Decimal | None, Decimal | None, Decimal | None, Refusal | None]:
    """(base, quote, price, deferred problem). Placeholders here are parse errors like elsewhere,
    but reported at the size step so the check order stays documented and simple.

    Only fields the action uses can refuse it: a close sells everything (sizes unused) and an exit
    never depends on the alert's price (it is only recorded), so a broken `{{close}}` cannot trap a
    position."""
    kinds = [(BASE_SIZE_KEYS, Reason.BAD_SIZE), (QUOTE_SIZE_KEYS, Reason.BAD_SIZE), (PRICE_KEYS, Reason.BAD_PRICE)]
    problem: Refusal | None = None
    values: list[Decimal | None] = []
    for index, (names, reason) in enumerate(kinds):
        found = fields.first(names)
        amount = None
        if found is not None:
            amount, refusal = read_amount(found[0], found[1], reason)
            used = action == "buy" or (action == "sell" and index < 2)
            if used:
                problem = problem or refusal
        values.append(amount)
    base, quote, price = values
    if action == "close":
        return None, None, price, None
    if problem is None and base is not None and quote is not None:
        problem = Refusal(Reason.BAD_SIZE, "give a base size (quantity) or a USD amount (notional), not both",
                          "quantity")
    if problem is None and quote is not None and action == "sell":
        problem = Refusal(Reason.BAD_SIZE, "a sell is sized in base units (quantity), not in USD", "notional")
    return base, quote, price, problem


def read_amount(key: str, value: Any, reason: Reason) -> tuple[Decimal | None, Refusal | None]:
    if isinstance(value, str) and "{{" in value and _PLACEHOLDER.search(value):
        return None, unfilled(key)
    try:
        return parse_amount(value), None
    except ValueError as exc:
        return None, Refusal(reason, f"{key} {exc}", key)
