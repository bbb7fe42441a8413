"""Several sighook replicas on one database: products split through advisory-lock leases (issue #24)."""
