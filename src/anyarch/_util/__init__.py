"""anyarch._util."""
