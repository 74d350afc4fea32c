"""The numeric core: price grid, input checking and causal merging, the map kernel and its slow twin.

Numpy arrays in, numpy arrays out; nothing here imports pandas except ``inputs`` (the boundary).
"""
