"""The simulator's matching engine: pure (no I/O, no clock reads), deterministic for a seed.

`MatchingEngine` (matching.py) is the entry point; the HTTP/WS layers and the paper venue call it
and pass the current time in.
"""

from simulator.engine.matching import EngineConfig, MatchingEngine

__all__ = ["EngineConfig", "MatchingEngine"]
