"""anyarch.archive."""
