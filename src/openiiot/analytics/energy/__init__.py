"""Compressed-air energy analytics: KPIs, leaks, tariffs, carbon, baselines and savings, sequencing.

Pure numpy/scipy functions without I/O (see docs/energy.md; formulas from domain-methods sections A and B).
Telemetry state codes follow the simulator's `state` key: 0 off, 1 unloaded (running), 2 loaded.
"""
