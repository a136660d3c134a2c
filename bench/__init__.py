"""Hookline's benchmark harness. Run ``python -m bench.run --help``; never part of the tests."""
