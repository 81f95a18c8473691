"""Reading, validating, normalizing and cleaning clouds, and what is derived from them before training
(samples, normals, distance targets)."""
