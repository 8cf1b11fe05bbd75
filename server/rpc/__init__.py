"""What every gRPC call passes through, whatever the service.

One interceptor layer (`pipeline`) runs observability (request id, metrics, log line,
trace), the error -> status mapping (`status`), shutdown tracking and authentication;
`context` is the call context type the servicers receive.
"""
