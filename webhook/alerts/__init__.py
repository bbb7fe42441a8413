"""The alert inbox: the alert value and its normaliser (JSON and plain text), reason codes, symbol map,
admission rules, the one entry sizing function, storage and the worker."""
