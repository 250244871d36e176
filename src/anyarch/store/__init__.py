"""anyarch.store."""
