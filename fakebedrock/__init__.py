"""fakebedrock."""
