"""Every read, write and CRS decision: DEM, towers, villages, fiber, outputs."""
