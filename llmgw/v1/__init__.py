"""Generated from proto/llmgw/v1; do not edit."""
