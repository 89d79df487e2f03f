"""FastAPI service: gap lists for carriers, maps for planners."""
