"""anyarch.sandbox."""
