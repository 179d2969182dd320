"""Simulated payer portals: realistic local web apps for the demo, the tests and the benchmarks."""
