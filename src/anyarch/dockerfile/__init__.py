"""anyarch.dockerfile."""
