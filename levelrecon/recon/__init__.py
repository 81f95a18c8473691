"""The point-cloud pipeline: I/O, normalization, sampling, training, meshing, metrics, runs."""
