"""The simulator's WebSocket endpoints (market data and user orders)."""
