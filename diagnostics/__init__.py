"""`python main.py diagnose`: watch a running daemon (database, /health, /metrics, read-only exchange
calls — never an order) and report whether its trailing stops and exits are working."""
