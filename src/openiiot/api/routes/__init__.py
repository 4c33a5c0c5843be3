"""api routes package."""
