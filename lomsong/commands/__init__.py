"""CLI command implementations, one module per command group.

Each module imports only light things at module level (typer, stdlib); numpy/numba/rasterio
are imported inside the command functions so that ``lomsong --help`` stays fast.
"""
