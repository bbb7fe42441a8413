"""The plain-text alert form, for people who do not write JSON. No I/O.

Grammar (one line, words separated by spaces, case-insensitive; the secret is in the URL path
`/webhook/<secret>`):

    <action> <symbol> [<base size> | $<usd>] [<fire time>]

- action: buy | long | sell | close | exit | flat (short is refused: spot account)
- symbol: BTCUSD, BTC-USD or COINBASE:BTCUSD
- size: `0.002` is base units, `$50` is USD (fees included); none → the default entry size
- fire time: `{{timenow}}` (recommended). Without it the alert is as fresh as its arrival, and an
  identical message within PLAIN_TEXT_RESEND_WINDOW_S is taken as TradingView's resend.

Examples: `buy BTCUSD`, `buy BTC-USD 0.002`, `buy ETHUSD $50`, `sell SOLUSD 1.5`, `close DOGEUSD`,
`buy BTCUSD $25 {{timenow}}`.
"""

from __future__ import annotations

import re
from datetime import datetime

from webhook.alerts.normalise import Refused, action_word, parse_time, read_amount
from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.schema import Alert

GRAMMAR = "<action> <symbol> [<base size> | $<usd>] [<fire time>], e.g. `buy BTCUSD $50` or `close ETH-USD`"
PLAIN_TEXT_RESEND_WINDOW_S = 60.0
MAX_LINE = 200

_SYMBOL = re.compile(r"^([A-Za-z0-9_]{1,20}:)?[A-Za-z0-9]{1,20}([-/][A-Za-z0-9]{1,10})?$")
_AMOUNT = re.compile(r"^(\$)?([-+]?[0-9][0-9.,eE+-]*|[-+]?\.[0-9]+)(\$|usd)?$", re.IGNORECASE)
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\S+|\d{10}(\d{3})?)$")


def looks_like_text(raw: bytes) -> bool:
    """A body that is meant as plain text (not broken JSON): its first character is not `{` or `[`."""
    head = raw.lstrip()[:1]
    return bool(head) and head not in (b"{", b"[", b'"')


def parse_text(raw: bytes, received_at: datetime) -> Alert | Refusal:
    """One plain-text line → Alert; anything else → a BAD_TEXT refusal that shows the grammar."""
    try:
        line = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        return _bad("the message is not UTF-8 text")
    if not line or "\n" in line or len(line) > MAX_LINE:
        return _bad("the message must be one short line")
    words = line.split()
    if not 2 <= len(words) <= 4:
        return _bad(f"expected 2 to 4 words, got {len(words)}")
    try:
        action = action_word(words[0], "action")
    except Refused as refused:
        if refused.refusal.code is Reason.UNSUPPORTED_ACTION:
            return refused.refusal
        return _bad("the first word must be buy, sell, close, exit, long or flat")
    symbol = words[1]
    if not _SYMBOL.match(symbol):
        return _bad("the second word must be a symbol such as BTCUSD or BTC-USD")
    rest = words[2:]
    fire_time, time_field = received_at, "received"
    if rest and _TIME.match(rest[-1]):
        try:
            fire_time, time_field = parse_time("time", rest[-1]), "time"
        except Refused as refused:
            return refused.refusal
        rest = rest[:-1]
    quantity = notional = None
    problem: Refusal | None = None
    if rest:
        match = _AMOUNT.match(rest[0])
        if len(rest) > 1 or match is None:
            return _bad("the third word must be a size (0.002) or a USD amount ($50)")
        in_usd = bool(match.group(1) or match.group(3))
        key = "usd" if in_usd else "size"
        amount, problem = read_amount(key, match.group(2), Reason.BAD_SIZE)
        quantity, notional = (None, amount) if in_usd else (amount, None)
        if problem is None and in_usd and action == "sell":
            problem = Refusal(Reason.BAD_SIZE, "a sell is sized in base units, not in USD", "usd")
    return Alert(ticker=symbol.replace("/", "-"), action=action, time=fire_time, quantity=quantity,
                 notional=notional, form="text", time_field=time_field, problem=problem)


def _bad(why: str) -> Refusal:
    return Refusal(Reason.BAD_TEXT, f"{why}; expected {GRAMMAR}")
