"""The Coinbase Advanced Trade adapter (REST + WebSocket), for live Coinbase and the simulator alike.

Build clients with `exchange.coinbase.clients`. This package's own import loads nothing: the replay reads
the payload mappings (`rest_mapping`) without the Coinbase SDK or the WebSocket stack behind the clients.
"""
