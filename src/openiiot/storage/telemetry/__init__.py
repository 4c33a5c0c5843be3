"""storage telemetry package."""
