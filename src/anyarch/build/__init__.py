"""anyarch.build."""
