"""The terminal UI's only door to the gateway: an async gRPC client over the generated stubs.

Every call carries the user's key as `authorization: Bearer <key>` metadata and a
deadline, and every failure comes out as a GatewayFailure carrying the status
name, the google.rpc.ErrorInfo reason and a sentence fit for a notification, so
screens never see grpc. Responses are the generated protobuf messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import grpc
from google.protobuf import timestamp_pb2

from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    chat_service_pb2_grpc,
    key_pb2,
    key_service_pb2,
    key_service_pb2_grpc,
    model_access_pb2,
    model_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    policy_service_pb2,
    policy_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
    quota_service_pb2_grpc,
    request_record_pb2,
    usage_service_pb2,
    usage_service_pb2_grpc,
)
from llmgw.wire.status_details import status_details

CALL_TIMEOUT_S = 15.0
# A streamed answer may take minutes; the stop key is the user's deadline.
STREAM_TIMEOUT_S = 600.0

# What each status means to someone at the keyboard; the server's message follows.
_TITLES: dict[str, str] = {
    "UNAVAILABLE": "Gateway unavailable",
    "UNAUTHENTICATED": "Key rejected",
    "PERMISSION_DENIED": "Not allowed",
    "INVALID_ARGUMENT": "Invalid input",
    "NOT_FOUND": "Not found",
    "RESOURCE_EXHAUSTED": "Quota exceeded",
    "DEADLINE_EXCEEDED": "Timed out",
    "UNIMPLEMENTED": "Not supported by this gateway",
    "INTERNAL": "Gateway error",
}


class GatewayFailure(Exception):
    """A call the gateway refused or could not answer, described for a person."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    @property
    def title(self) -> str:
        """A short heading for the notification."""
        return _TITLES.get(self.code, self.code.replace("_", " ").capitalize())

    def __str__(self) -> str:
        return f"{self.title}: {self.message}" if self.message else self.title


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One message of the conversation the chat screen keeps."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class ChatUsage:
    """Tokens and cost of one answered chat request, from the stream's usage chunk."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the key belongs to, and whether they may use the admin screens."""

    user: str
    is_admin: bool


def _reason(error: grpc.aio.AioRpcError) -> str:
    return status_details(tuple(error.trailing_metadata() or ())).reason


def _failure(error: grpc.aio.AioRpcError, target: str) -> GatewayFailure:
    code = error.code().name
    message = error.details() or ""
    if code == "UNAVAILABLE" and not _reason(error):
        message = f"cannot reach the gateway at {target}; is it running?"
    return GatewayFailure(code, _reason(error), message)


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _message(turn: ChatTurn) -> chat_pb2.ChatMessage:
    role = chat_pb2.ROLE_USER if turn.role == "user" else chat_pb2.ROLE_ASSISTANT
    return chat_pb2.ChatMessage(
        role=role, content=[chat_pb2.ContentPart(type=chat_pb2.CONTENT_PART_TYPE_TEXT, text=turn.text)]
    )


class GatewayClient:
    """The gateway's services over one grpc.aio channel, authenticated with one API key.

    Create it inside the running event loop (the channel binds to it) and close it when done.
    With `root_certificates` (a CA bundle in PEM) the channel uses TLS; without, plain text.
    """

    def __init__(self, target: str, api_key: str, root_certificates: bytes | None = None) -> None:
        self.target = target
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        if root_certificates is None:
            self._channel = grpc.aio.insecure_channel(target)
        else:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.aio.secure_channel(target, credentials)
        self._chat = chat_service_pb2_grpc.ChatServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._keys = key_service_pb2_grpc.KeyServiceStub(self._channel)
        self._quotas = quota_service_pb2_grpc.QuotaServiceStub(self._channel)
        self._policies = policy_service_pb2_grpc.PolicyServiceStub(self._channel)
        self._usage = usage_service_pb2_grpc.UsageServiceStub(self._channel)

    async def close(self) -> None:
        """Close the channel, cancelling any call still running."""
        await self._channel.close()

    async def identify(self) -> Identity:
        """Check the key and find out who it belongs to and whether they are an admin.

        ListModels proves the server is reachable and the key valid. The user's name comes
        from their own quota status; reading a quota (GetQuota) is for admins only, so
        PERMISSION_DENIED there means an ordinary user.
        """
        await self.list_models()
        try:
            user = (await self.quota_status("me")).user
        except GatewayFailure as failure:
            if failure.code != "UNIMPLEMENTED":
                raise
            user = ""
        try:
            await self.get_quota("me")
        except GatewayFailure as failure:
            if failure.code not in ("PERMISSION_DENIED", "UNIMPLEMENTED"):
                raise
            return Identity(user, is_admin=False)
        return Identity(user, is_admin=True)

    async def list_models(self) -> list[model_pb2.Model]:
        """The models the caller may use, sorted by id."""
        try:
            response = await self._models.ListModels(
                model_service_pb2.ListModelsRequest(), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return list(response.data)

    async def stream_chat(self, model: str, turns: Sequence[ChatTurn]) -> AsyncIterator[str | ChatUsage]:
        """The answer to the conversation as text fragments, then its usage.

        Closing the iterator early (the stop key cancels the worker) cancels the call.
        """
        params = chat_pb2.ChatCompletionParams(
            model=model,
            messages=[_message(turn) for turn in turns],
            stream=True,
            stream_options=chat_pb2.StreamOptions(include_usage=True),
        )
        call = self._chat.StreamChatCompletion(
            chat_service_pb2.StreamChatCompletionRequest(params=params),
            metadata=self._metadata,
            timeout=STREAM_TIMEOUT_S,
        )
        try:
            async for response in call:
                chunk = response.chunk
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
                if chunk.HasField("usage"):
                    usage = chunk.usage
                    yield ChatUsage(usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        finally:
            call.cancel()

    async def create_key(self, name: str, expires_at: datetime | None) -> key_service_pb2.CreateKeyResponse:
        """A new key of the caller's, with its secret (the only time it is returned)."""
        request = key_service_pb2.CreateKeyRequest(name=name)
        if expires_at is not None:
            request.expires_at.CopyFrom(timestamp(expires_at))
        try:
            return await self._keys.CreateKey(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None

    async def list_keys(self) -> list[key_pb2.Key]:
        """All of the caller's keys, by name, following every page."""
        keys: list[key_pb2.Key] = []
        token = ""
        while True:
            request = key_service_pb2.ListKeysRequest(page_size=1000, page_token=token)
            try:
                response = await self._keys.ListKeys(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                raise _failure(error, self.target) from None
            keys.extend(response.keys)
            token = response.next_page_token
            if not token:
                return keys

    async def delete_key(self, name: str) -> None:
        """Delete one of the caller's keys."""
        try:
            await self._keys.DeleteKey(
                key_service_pb2.DeleteKeyRequest(name=name), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None

    async def get_quota(self, user: str) -> quota_pb2.Quota:
        """A user's quota in effect (admins only)."""
        try:
            response = await self._quotas.GetQuota(
                quota_service_pb2.GetQuotaRequest(user=user), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.quota

    async def set_quota(
        self, user: str, frequency: quota_pb2.QuotaFrequency.ValueType, limit_usd: str
    ) -> quota_pb2.Quota:
        """Give a user their own quota (admins only); returns the quota now in effect."""
        request = quota_service_pb2.SetQuotaRequest(user=user, frequency=frequency, limit_usd=limit_usd)
        try:
            response = await self._quotas.SetQuota(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.quota

    async def reset_quota(self, user: str) -> quota_pb2.Quota:
        """Put a user back on the default quota (admins only); returns it."""
        try:
            response = await self._quotas.ResetQuota(
                quota_service_pb2.ResetQuotaRequest(user=user), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.quota

    async def quota_status(self, user: str) -> quota_pb2.QuotaStatus:
        """What a user (`me` for the caller) spent this period against their limit."""
        try:
            response = await self._quotas.GetQuotaStatus(
                quota_service_pb2.GetQuotaStatusRequest(user=user), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.status

    async def get_model_access(self, user: str) -> model_access_pb2.ModelAccess:
        """Which models a user may call."""
        try:
            response = await self._policies.GetModelAccess(
                policy_service_pb2.GetModelAccessRequest(user=user), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.model_access

    async def set_model_access(self, user: str, models: Sequence[str]) -> model_access_pb2.ModelAccess:
        """Set which models a user may call (admins only); returns the access now in effect."""
        request = policy_service_pb2.SetModelAccessRequest(user=user, models=list(models))
        try:
            response = await self._policies.SetModelAccess(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.model_access

    async def reset_model_access(self, user: str) -> model_access_pb2.ModelAccess:
        """Put a user back on the default model access (admins only); returns it."""
        try:
            response = await self._policies.ResetModelAccess(
                policy_service_pb2.ResetModelAccessRequest(user=user), metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return response.model_access

    async def list_requests(
        self, request: usage_service_pb2.ListRequestsRequest
    ) -> list[request_record_pb2.RequestRecord]:
        """One page of the request log, newest first, as filtered by `request`."""
        try:
            response = await self._usage.ListRequests(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
        return list(response.requests)

    async def usage_summary(
        self, request: usage_service_pb2.GetUsageSummaryRequest
    ) -> usage_service_pb2.GetUsageSummaryResponse:
        """Spend by model and by day over the request's range and filters."""
        try:
            return await self._usage.GetUsageSummary(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise _failure(error, self.target) from None
