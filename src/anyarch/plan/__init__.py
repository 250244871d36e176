"""anyarch.plan."""
