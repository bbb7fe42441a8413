"""Replay: the daemon's own decision and bookkeeping code over historical candles, in virtual time."""
