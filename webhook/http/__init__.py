"""The webhook process's HTTP surface: alert endpoint, health, metrics and admin routes."""
