"""anyarch.oci."""
