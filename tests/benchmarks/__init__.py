"""Tests of the benchmarks (tiny runs: figures are reported, never asserted)."""
