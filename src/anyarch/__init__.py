"""anyarch: build container images that run anywhere, without a daemon."""

__version__ = "0.1.0"
