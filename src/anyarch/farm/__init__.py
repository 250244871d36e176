"""anyarch.farm."""
