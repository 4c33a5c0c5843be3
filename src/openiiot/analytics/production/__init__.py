"""Production analytics: OEE (ISO 22400-2), MTBF/MTTR, consumed life of robot reducers. Pure functions."""
