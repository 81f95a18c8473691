"""Workflows built on the Python API (many clouds in one batch): above `levelrecon.api`, below the CLI."""
