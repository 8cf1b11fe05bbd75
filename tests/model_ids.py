"""The model ids the tests use, each spelled once: all are in the shipped catalog and the fake Bedrock."""

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"
# Prompt caching (5m and 1h), budgeted thinking ("enabled"), tools: Claude Haiku 4.5 on the us. profile.
HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
# A model with the priority and flex service tiers.
DEEPSEEK = "deepseek.v3.2"
