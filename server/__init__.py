"""The gateway's gRPC server, in wings that follow a call from the wire to Bedrock and the database.

- `rpc/`: what every call passes through: the one interceptor layer (pipeline), the call
  context type, authentication glue, the error -> status mapping, metrics, logs, tracing and
  shutdown tracking.
- `governance/`: who may do what: identities (API keys, OIDC), the admin role, model access,
  and quota and rate-limit admission.
- `services/`: one servicer per proto service; they translate requests and call the wings.
- `routing/`: which region and model id serve a request, retries, failover and circuit breakers.
- `providers/`: the upstream model APIs (Bedrock).
- `store/`: peewee models, migrations, repositories and the group-commit writer.
- `core/`: rules with no I/O: the catalog, money, periods, accounting, key hashing.

`app.py` builds a Gateway from Settings; `settings.py` reads them.
"""
