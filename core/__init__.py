"""Settings, logging, clock, money helpers and shared enums."""
