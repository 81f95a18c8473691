"""From a trained field to a mesh: dense and adaptive marching cubes, curves, trimming, run extraction."""
