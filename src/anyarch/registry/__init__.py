"""anyarch.registry."""
