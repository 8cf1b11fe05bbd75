"""The terminal UI: a Textual app that talks to the gateway over gRPC with the user's key."""
