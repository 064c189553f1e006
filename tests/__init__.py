"""telering's test suite (a package, so ``tests.support`` plugins import from the repo root)."""
