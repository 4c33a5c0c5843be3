"""storage sql package."""
