"""A fake Amazon Bedrock Runtime that boto3 talks to over real HTTP.

Tests, the demo and load tests run the gateway against it instead of AWS:
`FakeBedrockServer` serves `FakeBedrockApp` (Converse, ConverseStream and
InvokeModel for embeddings) with configurable latency and injected faults.
"""
