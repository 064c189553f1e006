"""Real telering processes on one machine, shared by benchmarks and the test suite."""
