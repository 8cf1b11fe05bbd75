"""LLM Gateway: governed access to Amazon Bedrock through the OpenAI API and gRPC."""
