"""anyarch.cli."""
