"""The simulator's HTTPS REST surface (`/api/v3/brokerage`) and admin endpoints."""
