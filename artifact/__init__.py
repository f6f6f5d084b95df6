"""Reproducibility artifact for Schulman, Chen, Abbeel (2017), arXiv:1704.06440."""
