"""anyarch benchmarks: ``python -m bench [registry-copy|frontend] [options]``.

Each benchmark runs anyarch against a real peer (or on real inputs) on this
machine, prints a table, and rewrites its own section of docs/performance.md.
"""
