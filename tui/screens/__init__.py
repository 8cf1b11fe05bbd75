"""The screens of the terminal UI, one per module, each styled by its sibling .tcss file."""
