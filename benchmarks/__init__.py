"""Benchmarks of source-contacts against a plain-Python baseline, on the bundled emulator."""
