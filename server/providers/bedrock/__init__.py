"""server/providers/bedrock."""
