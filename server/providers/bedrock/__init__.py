"""Amazon Bedrock as the gateway's upstream.

`converse.py` and `embeddings.py` translate between the API's messages and Bedrock's request
and response bodies, `thinking.py` decides what each model is sent about thinking, sampling,
tool choice and answer length (`explicit_thinking.py` for Anthropic's `thinking` parameter),
`caching.py` places cache points for `cache_control` markers, `thinking_blocks.py` carries
signed thinking between turns, `service_tiers.py` maps `service_tier`, `stream.py` turns
ConverseStream events into chunks, `errors.py` maps Bedrock's failures onto the gateway's error
domain, and `client.py` is the one module that talks to Bedrock Runtime over the network
(`control_plane.py` reads the `bedrock` control plane's model lists for `llmgw catalog check`).
"""
