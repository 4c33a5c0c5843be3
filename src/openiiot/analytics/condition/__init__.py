"""Condition monitoring: vibration features, bearing defect frequencies, ISO 10816-3/20816-3 zones.

Pure numpy/scipy code without I/O (see docs/condition-monitoring.md).
"""
