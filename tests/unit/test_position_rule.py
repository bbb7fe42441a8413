"""The one position definition (pure)."""

from __future__ import annotations

from decimal import Decimal as D

from core.position_rule import SizeRule, is_position, split_dust

ETH = SizeRule(D("0.00000001"), D("0.00000001"))
COARSE = SizeRule(D("0.01"), D("0.1"))

# (size, rule, is a position) — shared with the SQL function's test.
CASES = [
    (D("0"), ETH, False), (D("1e-12"), ETH, False), (D("0.000000009999"), ETH, False),
    (D("0.00000001"), ETH, True), (D("0.5"), ETH, True),
    (D("0.0999"), COARSE, False), (D("0.1"), COARSE, True), (D("0.10999"), COARSE, True),
    (D("0.00999"), COARSE, False), (D("1e-12"), None, True), (D("0"), None, False),
]


def test_position_rule_cases() -> None:
    for size, rule, expected in CASES:
        assert is_position(size, rule) is expected, (size, rule)


def test_split_dust_sells_on_the_increment_and_keeps_the_rest_as_dust() -> None:
    assert split_dust(D("0.10999"), COARSE) == (D("0.10"), D("0.00999"))
    assert split_dust(D("0.0999"), COARSE) == (D("0"), D("0.0999"))
    assert split_dust(D("1.5e-12"), ETH) == (D("0"), D("1.5e-12"))
