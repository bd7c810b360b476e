"""Evaluation: FID (and, with the pipeline, PUL and Ret-FID)."""
