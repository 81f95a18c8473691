"""levelrecon: surface reconstruction from raw point clouds with neural level sets."""

__version__ = "0.1.0"
