"""Benchmarks of the gateway: a load generator, a zero-work ceiling server and the matrix runner.

Not part of the installed package and never run by the test suite; results live in RESULTS.md.
"""
