"""reporting views for psql users: Form 8949 lots, realized P&L by day, exits by reason, open lots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 16:00:00

Trade dates use the time zone from the session setting `bottrader.tax_timezone`
(`SET bottrader.tax_timezone = 'UTC'`, or `ALTER DATABASE … SET …` to keep it), default
America/New_York like TAX_TIMEZONE. The numbers equal those of `python main.py report …`;
reports/README.md shows example queries.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAX_TZ_FUNCTION = """
CREATE FUNCTION bottrader_tax_tz() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT COALESCE(NULLIF(current_setting('bottrader.tax_timezone', true), ''), 'America/New_York')
$$
"""

# One row per allocation (lot slice) of a USD pair, in Form 8949 shape; money rounded to cents
# here only, (h) = (d) − (e) from the rounded values as on the form.
TAX_LOTS_8949 = """
CREATE VIEW tax_lots_8949 AS
SELECT a.id AS allocation_id,
       a.portfolio_id,
       a.symbol,
       split_part(a.symbol, '-', 1) AS asset,
       CASE a.holding_term WHEN 'long' THEN 'II' ELSE 'I' END AS part,
       a.holding_term,
       trim_scale(a.allocated_size)::text || ' ' || split_part(a.symbol, '-', 1) AS description,
       CASE WHEN a.missing_basis OR a.buy_time IS NULL THEN 'VARIOUS'
            ELSE to_char(a.buy_time AT TIME ZONE bottrader_tax_tz(), 'MM/DD/YYYY') END AS date_acquired,
       to_char(a.sell_time AT TIME ZONE bottrader_tax_tz(), 'MM/DD/YYYY') AS date_sold,
       (a.sell_time AT TIME ZONE bottrader_tax_tz())::date AS sell_date,
       EXTRACT(YEAR FROM a.sell_time AT TIME ZONE bottrader_tax_tz())::int AS tax_year,
       round(a.net_proceeds_usd, 2) AS proceeds,
       round(a.cost_basis_usd, 2) AS cost_basis,
       round(a.net_proceeds_usd, 2) - round(a.cost_basis_usd, 2) AS gain_loss,
       round(a.proceeds_usd, 2) AS gross_proceeds,
       round(a.proceeds_usd - a.net_proceeds_usd, 2) AS sale_fees,
       a.missing_basis,
       a.sell_order_id,
       a.buy_order_id,
       a.sell_trade_id,
       a.buy_trade_id,
       a.buy_time,
       a.sell_time,
       a.pnl_usd AS exact_pnl_usd
FROM fifo_allocations a
WHERE split_part(a.symbol, '-', 2) = 'USD'
"""

TAX_8949_TOTALS = """
CREATE VIEW tax_8949_totals AS
SELECT tax_year,
       part,
       count(*) AS lines,
       sum(proceeds) AS proceeds,
       sum(cost_basis) AS cost_basis,
       sum(gain_loss) AS gain_loss,
       count(*) FILTER (WHERE missing_basis) AS missing_basis_lines
FROM tax_lots_8949
GROUP BY tax_year, part
"""

REALIZED_PNL_DAILY = """
CREATE VIEW realized_pnl_daily AS
SELECT d.day, d.sells, d.slices, d.pnl_usd, d.net_proceeds_usd, d.cost_basis_usd, d.fees_usd,
       d.missing_basis_slices,
       sum(d.pnl_usd) OVER (ORDER BY d.day) AS cumulative_pnl_usd
FROM (
  SELECT (a.sell_time AT TIME ZONE bottrader_tax_tz())::date AS day,
         count(DISTINCT a.sell_order_id) AS sells,
         count(*) AS slices,
         sum(a.pnl_usd) AS pnl_usd,
         sum(a.net_proceeds_usd) AS net_proceeds_usd,
         sum(a.cost_basis_usd) AS cost_basis_usd,
         sum(a.allocated_size * (a.buy_fees_per_unit + a.sell_fees_per_unit)) AS fees_usd,
         count(*) FILTER (WHERE a.missing_basis) AS missing_basis_slices
  FROM fifo_allocations a
  GROUP BY 1
) d
"""

# A trade = one sell order with its FIFO P&L: the sums of its allocations, or trade_records.pnl_usd
# for a sell that has none (same rules as reports.queries.load_trade_outcomes).
REALIZED_TRADES = """
CREATE VIEW realized_trades AS
WITH alloc AS (
  SELECT sell_order_id,
         min(symbol) AS symbol,
         sum(pnl_usd) AS pnl,
         sum(allocated_size * (buy_fees_per_unit + sell_fees_per_unit)) AS fees,
         sum(cost_basis_usd) AS basis,
         sum(allocated_size) AS size,
         sum(allocated_size * buy_price) / sum(allocated_size) AS entry_price,
         sum(allocated_size * sell_price) / sum(allocated_size) AS exit_price,
         max(sell_time) AS exit_time,
         bool_or(missing_basis) AS missing_basis
  FROM fifo_allocations
  GROUP BY sell_order_id
), sells AS (
  SELECT * FROM trade_records WHERE side = 'SELL'
)
SELECT COALESCE(a.sell_order_id, s.order_id) AS sell_order_id,
       COALESCE(a.symbol, s.symbol) AS symbol,
       s.exit_reason,
       COALESCE(s.exit_reason, 'unspecified') AS reason,
       COALESCE(a.exit_time, s.order_time) AS exit_time,
       COALESCE(a.pnl, s.pnl_usd) AS pnl_usd,
       COALESCE(a.fees, s.total_fees_usd, 0) AS fees_usd,
       COALESCE(a.basis, s.cost_basis_usd) AS cost_basis_usd,
       a.size,
       a.entry_price,
       COALESCE(a.exit_price, s.average_filled_price) AS exit_price,
       s.exit_target_price,
       s.exit_quote_price,
       (COALESCE(a.exit_price, s.average_filled_price) - a.entry_price) / NULLIF(a.entry_price, 0) * 100
         AS move_pct,
       COALESCE(a.pnl, s.pnl_usd) / NULLIF(COALESCE(a.basis, s.cost_basis_usd), 0) * 100 AS return_pct,
       (COALESCE(a.exit_price, s.average_filled_price) - s.exit_target_price) / NULLIF(s.exit_target_price, 0) * 100
         AS slippage_pct,
       COALESCE(a.missing_basis, false) AS missing_basis
FROM alloc a
FULL JOIN sells s ON s.order_id = a.sell_order_id
WHERE a.sell_order_id IS NOT NULL OR s.pnl_usd IS NOT NULL
"""

# Sells with a $0-basis slice are left out, as in the performance report.
EXITS_BY_REASON = """
CREATE VIEW exits_by_reason AS
SELECT reason AS exit_reason,
       count(*) AS trades,
       count(*) FILTER (WHERE pnl_usd > 0) AS wins,
       count(*) FILTER (WHERE pnl_usd < 0) AS losses,
       count(*) FILTER (WHERE pnl_usd > 0)::numeric / count(*) AS win_rate,
       avg(pnl_usd) FILTER (WHERE pnl_usd > 0) AS avg_win_usd,
       avg(pnl_usd) FILTER (WHERE pnl_usd < 0) AS avg_loss_usd,
       avg(pnl_usd) FILTER (WHERE pnl_usd > 0) / NULLIF(-avg(pnl_usd) FILTER (WHERE pnl_usd < 0), 0) AS reward_risk,
       sum(pnl_usd) / count(*) AS expectancy_usd,
       sum(pnl_usd) AS total_pnl_usd,
       sum(fees_usd) AS fees_paid_usd,
       avg(move_pct) AS avg_move_pct,
       avg(return_pct) AS avg_return_pct,
       avg(slippage_pct) AS avg_slippage_pct,
       max(exit_time) AS last_exit_time
FROM realized_trades
WHERE NOT missing_basis
GROUP BY reason
"""

# What is left of each buy fill; its basis is the lot's full cost minus the basis already
# allocated, so rounding remainders stay with the lot (tax reference §9).
OPEN_LOTS = """
CREATE VIEW open_lots AS
SELECT f.portfolio_id,
       f.symbol,
       f.trade_id AS buy_trade_id,
       f.order_id AS buy_order_id,
       f.trade_time AS buy_time,
       f.price,
       f.size,
       f.commission,
       f.size - COALESCE(u.size, 0) AS remaining_size,
       f.size * f.price + f.commission - COALESCE(u.basis, 0) AS remaining_basis_usd
FROM fills f
LEFT JOIN (
  SELECT buy_trade_id, sum(allocated_size) AS size, sum(cost_basis_usd) AS basis
  FROM fifo_allocations WHERE buy_trade_id IS NOT NULL GROUP BY buy_trade_id
) u ON u.buy_trade_id = f.trade_id
WHERE f.side = 'BUY' AND f.size - COALESCE(u.size, 0) > 0
"""

OPEN_POSITIONS = """
CREATE VIEW open_positions AS
SELECT symbol,
       sum(remaining_size) AS size,
       sum(remaining_size * price) / sum(remaining_size) AS entry_price,
       sum(remaining_basis_usd) AS cost_basis_usd,
       min(buy_time) AS opened_at,
       count(*) AS lots
FROM open_lots
GROUP BY symbol
"""

# (name, create statement) in dependency order; downgrade drops them in reverse.
VIEWS = [
    ("tax_lots_8949", TAX_LOTS_8949),
    ("tax_8949_totals", TAX_8949_TOTALS),
    ("realized_pnl_daily", REALIZED_PNL_DAILY),
    ("realized_trades", REALIZED_TRADES),
    ("exits_by_reason", EXITS_BY_REASON),
    ("open_lots", OPEN_LOTS),
    ("open_positions", OPEN_POSITIONS),
]


def upgrade() -> None:
    op.execute(TAX_TZ_FUNCTION)
    for _name, create in VIEWS:
        op.execute(create)


def downgrade() -> None:
    for name, _create in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS bottrader_tax_tz()")
