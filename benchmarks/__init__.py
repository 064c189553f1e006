"""Reproducible telering benchmarks; each writes its figures as JSON."""
