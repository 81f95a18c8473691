"""The classifier tasks of the papers: one-class classification with OCSDF, its datasets and protocols."""
