"""The alert inbox: schema of an alert body, symbol map, admission rules, storage and the worker."""
