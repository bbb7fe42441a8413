"""Passive market making (issue #20): post-only quotes, each filled buy protected by a bracket."""
