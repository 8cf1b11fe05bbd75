"""The Bedrock Runtime errors the fake answers with, as boto3 expects them on the wire."""

# Real Bedrock suffixes the error type header with its Coral namespace; botocore strips it.
_ERROR_TYPE_NAMESPACE = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


class BedrockError(Exception):
    """A failed call: HTTP status, Bedrock error code and message, raised anywhere before a response starts."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    @property
    def error_type_header(self) -> str:
        """The `x-amzn-errortype` value botocore reads the error code from."""
        return self.code + _ERROR_TYPE_NAMESPACE

    def body(self) -> dict[str, object]:
        """The JSON error body: `message` plus any modelled members."""
        return {"message": self.message, **self.extra}


def invalid(message: str) -> BedrockError:
    """A 400 ValidationException, Bedrock's answer to any malformed request."""
    return BedrockError(400, "ValidationException", message)


def not_found(message: str) -> BedrockError:
    """A 404 for paths the Bedrock Runtime API does not have."""
    return BedrockError(404, "UnknownOperationException", message)
