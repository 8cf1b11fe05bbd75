"""server/core."""
