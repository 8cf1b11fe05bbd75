"""The upstream model APIs the gateway calls: Bedrock's Converse, ConverseStream and InvokeModel."""
