"""server/providers."""
