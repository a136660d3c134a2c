"""Storage contract and migration tests (a package, so its conftest never shadows another)."""
