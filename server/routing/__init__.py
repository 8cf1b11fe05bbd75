"""Routing and failover: which Bedrock region and model id serve a public model id, and what to do when one fails.

server/routing_config.py parses the `[bedrock.regions.*]` and `[[routes]]` settings; table.py checks
them against the catalog; breaker.py, backoff.py and router.py run the attempts.
"""
