"""Benchmarks of braze-kafka-bridge on real parts: ``python -m bench [--short]``.

See docs/performance.md for the method, the scenarios and the latest figures.
"""
