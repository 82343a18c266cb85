"""Helpers for tests and benchmarks only; nothing the command line imports."""
