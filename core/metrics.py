"""Prometheus metrics, defined once so every package records into the same registry.

Exposed by webhook at GET /metrics. Labels are small closed sets (never order ids or symbols
that grow without bound, except `symbol` where the universe is bounded by settings).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Exits and orders
EXITS = Counter("bt_exits_total", "Exit orders placed, by exit reason", ["reason"], registry=REGISTRY)
EXITS_SKIPPED = Counter("bt_exits_skipped_total", "Exits not taken, by cause (hodl, stale_quote, in_flight, attempts)",
                        ["cause"], registry=REGISTRY)
ORDERS = Counter("bt_orders_total", "Order state transitions seen, by state", ["state"], registry=REGISTRY)
ORDER_REJECTIONS = Counter("bt_order_rejections_total", "Exchange rejections by error code", ["error"],
                           registry=REGISTRY)
FILLS_RECORDED = Counter("bt_fills_recorded_total", "Fills recorded, by ingest path", ["via"], registry=REGISTRY)
FILL_RECORD_LAG = Histogram("bt_fill_record_lag_seconds", "Fill time to recorded time", registry=REGISTRY,
                            buckets=(0.1, 0.5, 1, 2, 5, 15, 60, 300, 1800))
RECONCILE_ROWS = Counter("bt_reconcile_rows_total", "Reconciliation rows, by kind (inserted, updated)", ["kind"],
                         registry=REGISTRY)
RECONCILE_RUNS = Counter("bt_reconcile_runs_total", "Reconciliation passes, by trigger", ["trigger"],
                         registry=REGISTRY)

# Exchange transport
REST_RETRIES = Counter("bt_rest_retries_total", "REST retries, by cause (429, 5xx, timeout, 401)", ["cause"],
                       registry=REGISTRY)
REST_FAILURES = Counter("bt_rest_failures_total", "REST calls that failed after retries", ["cause"],
                        registry=REGISTRY)
WS_RECONNECTS = Counter("bt_ws_reconnects_total", "WebSocket reconnects, by feed and cause", ["feed", "cause"],
                        registry=REGISTRY)
WS_CONNECTED = Gauge("bt_ws_connected", "1 while the feed is connected and fresh", ["feed"], registry=REGISTRY)
WS_MESSAGE_LAG = Histogram("bt_ws_message_lag_seconds", "Exchange timestamp to receive time", ["feed"],
                           registry=REGISTRY, buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))
WS_SEQUENCE_GAPS = Counter("bt_ws_sequence_gaps_total", "Sequence gaps detected", ["feed"], registry=REGISTRY)

# Sentinel and trailing stops
SENTINEL_SWEEP_SECONDS = Histogram("bt_sentinel_sweep_seconds", "Duration of one sweep over all positions",
                                   registry=REGISTRY, buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1))
STALE_QUOTES = Counter("bt_stale_quotes_total", "Evaluations refused because the quote was stale", registry=REGISTRY)
TRAILING_CREATED = Counter("bt_trailing_stops_created_total", "Trailing stops created on first price update",
                           registry=REGISTRY)
TRAILING_ACTIVATIONS = Counter("bt_trailing_activations_total", "Trailing stops activated", registry=REGISTRY)
TRAILING_ERRORS = Counter("bt_trailing_errors_total", "Trailing-stop persistence/order errors", registry=REGISTRY)
TRAILING_ACTIVE = Gauge("bt_trailing_stops_active", "Trailing stops in the active state", registry=REGISTRY)
PROTECTIVE_UNPROTECTED_SECONDS = Histogram("bt_protective_stop_unprotected_seconds",
                                           "Cancel-to-replace window of protective stops", registry=REGISTRY)
# Protective-stop moves by method (issue #21): edit (in place, window 0) or cancel_replace (fallback)
_WINDOW_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5)
PROTECTIVE_MOVES = Counter("bt_protective_stop_moves_total", "Protective-stop moves, by method", ["method"],
                           registry=REGISTRY)
PROTECTIVE_MOVE_UNPROTECTED_SECONDS = Histogram(
    "bt_protective_stop_move_unprotected_seconds", "Unprotected window of each protective-stop move, by method",
    ["method"], registry=REGISTRY, buckets=_WINDOW_BUCKETS)
PROTECTIVE_MOVE_LATENCY_SECONDS = Histogram(
    "bt_protective_stop_move_latency_seconds", "Move decision to exchange acknowledgement, by method",
    ["method"], registry=REGISTRY, buckets=_WINDOW_BUCKETS[1:])
PROTECTIVE_EDIT_REFUSALS = Counter("bt_protective_stop_edit_refusals_total",
                                   "Edits the exchange refused (fell back to cancel-and-replace), by reason",
                                   ["reason"], registry=REGISTRY)

# Degraded mode (issue #21)
DEGRADED_ACTIVE = Gauge("bt_degraded_mode", "1 while the daemon is in degraded mode", registry=REGISTRY)
DEGRADED_TRANSITIONS = Counter("bt_degraded_mode_transitions_total", "Degraded mode entered/left", ["event"],
                               registry=REGISTRY)
DEGRADED_CALL_FAILURES = Counter("bt_exchange_call_failures_total",
                                 "Exchange calls that failed after retries (errors, timeouts), by call family",
                                 ["family"], registry=REGISTRY)
ORDER_PREVIEWS = Counter("bt_order_previews_total", "Market-order previews, by decision (send, block, exempt)",
                         ["decision"], registry=REGISTRY)

# Alerts and risk
ALERTS = Counter("bt_alerts_total", "Alert outcomes", ["outcome"], registry=REGISTRY)
BREAKER_TRIPPED = Gauge("bt_breaker_tripped", "1 while the breaker is tripped", ["breaker"], registry=REGISTRY)

# Sighook
SIGHOOK_CYCLE_SECONDS = Histogram("bt_sighook_cycle_seconds", "Sighook cycle stage durations", ["stage"],
                                  registry=REGISTRY, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
SIGHOOK_SIGNALS = Counter("bt_sighook_signals_total", "Buy/sell decisions in the matrix", ["decision"],
                          registry=REGISTRY)

# Trailing-stop and exit history, feed and pipeline liveness (issue #23: diagnose, alert rules, Grafana)
TRAILING_EVENTS = Counter("bt_trailing_stop_events_total", "Trailing-stop events recorded, by kind", ["kind"],
                          registry=REGISTRY)
EXIT_EVENTS = Counter("bt_exit_events_total", "Exit-attempt events recorded, by kind", ["kind"], registry=REGISTRY)
EXIT_LATENCY = Histogram("bt_exit_latency_seconds", "Exit decided (on a tick) to exit order filled",
                         registry=REGISTRY, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300))
MARKET_TICKS = Counter("bt_market_ticks_total", "Ticker updates received, by symbol", ["symbol"],
                       registry=REGISTRY)
MARKET_LAST_TICK = Gauge("bt_market_last_tick_timestamp_seconds", "Unix time of the last ticker update received",
                         registry=REGISTRY)
MATRIX_UPDATED = Gauge("bt_matrix_updated_timestamp_seconds", "Unix time of the buy_sell_matrix the webhook holds",
                       registry=REGISTRY)
FILL_RECORD_FAILURES = Counter("bt_fill_record_failures_total", "Attempts to fetch and record an order's fills "
                               "that failed (retried, then left to the reconciler)", registry=REGISTRY)
OPEN_POSITIONS = Gauge("bt_open_positions", "Open positions the sentinel guards", registry=REGISTRY)
REALIZED_PNL = Gauge("bt_realized_pnl_usd", "Realized P&L of exits filled since the process started (USD, display "
                     "precision)", registry=REGISTRY)
