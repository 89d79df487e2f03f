"""Numba kernels: ndarrays and scalars in, ndarrays out; never mutate an input."""
