"""Degraded mode: the circuit breaker over exchange failures (issue #21).

machine.py decides (pure), store.py persists (state + events in one transaction), mode.py runs it.
"""
