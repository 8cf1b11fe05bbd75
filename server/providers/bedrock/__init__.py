"""Amazon Bedrock as the gateway's upstream.

`converse.py` and `embeddings.py` translate between the API's messages and Bedrock's request
and response bodies, `stream.py` turns ConverseStream events into chunks, `errors.py` maps
Bedrock's failures onto the gateway's error domain, and `client.py` is the one module that
talks to Bedrock over the network.
"""
