"""storage memory package."""
