"""Looking at results: offscreen PNG renders (`render`) and the interactive browser viewer (`view`).

`scene` loads runs, meshes and clouds into one description, `colors` maps values to colours, `render`
draws with matplotlib's Agg backend (no display, no GPU), `viewer` serves the scene with viser.
"""
