"""The reconstruction methods (SAL, IGR, levelset, OCSDF, Poisson), their registry and field representations."""
