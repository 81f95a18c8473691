"""Torch modules and level-set math: networks, Newton projection, sample network, losses.

No file I/O and no printing here.
"""
