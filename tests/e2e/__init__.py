"""End-to-end tests of the installed `llmgw` command."""
