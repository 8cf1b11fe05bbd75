"""The terminal UI's only door to the gateway: an async gRPC client over the generated stubs.

Every call carries the user's key as `authorization: Bearer <key>` metadata and a
deadline, and every failure comes out as a GatewayFailure carrying the status
name, the google.rpc.ErrorInfo reason and a sentence fit for a notification, so
screens never see grpc. One helper (`_unary`) turns grpc errors into failures for
every unary call. Every call, streams included, tells the client's `link` whether the
gateway answered (tui/link.py). Responses are the generated protobuf messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from llmgw.tui.format import readable_times
from llmgw.tui.link import Link
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
    user_pb2,
    user_service_pb2,
    user_service_pb2_grpc,
)
from llmgw.wire.status_details import status_details

CALL_TIMEOUT_S = 15.0
# After the gateway went away, grpc waits (with growing pauses) before dialling again, and
# calls fail at once meanwhile; a short ceiling lets the console see it back within seconds.
CHANNEL_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 2000))
# A streamed answer may take minutes; the stop key is the user's deadline.
STREAM_TIMEOUT_S = 600.0
_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)

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
_REASON_TITLES: dict[str, str] = {"RATE_LIMIT_EXCEEDED": "Rate limited"}


class GatewayFailure(Exception):
    """A call the gateway refused or could not answer, described for a person.

    `field` is the request field the gateway blamed (ErrorInfo metadata), so a form
    can name its own label instead of the API's field name.
    """

    def __init__(self, code: str, reason: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = readable_times(message)
        self.field = field

    @property
    def title(self) -> str:
        """A short heading for the notification."""
        return _REASON_TITLES.get(self.reason) or _TITLES.get(self.code, self.code.replace("_", " ").capitalize())

    def labelled(self, labels: Mapping[str, str]) -> str:
        """The message with the blamed API field written as the form's label for it."""
        label = labels.get(self.field)
        if not label or not self.message.startswith(self.field):
            return self.message
        return label + self.message.removeprefix(self.field)

    def __str__(self) -> str:
        if not self.message:
            return self.title
        # Some messages already open with the title ("Quota exceeded: ..."); say it once.
        if self.message.lower().startswith(self.title.lower()):
            return self.message
        return f"{self.title}: {self.message}"


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One message of the conversation the chat screen keeps."""

    role: Literal["system", "user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """How to answer: the model, and the sampling settings the user chose (None: the model's default)."""

    model: str
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ChatUsage:
    """Tokens and cost of one answered chat request, from the stream's usage chunk."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: str


@dataclass(frozen=True, slots=True)
class AnswerId:
    """The request id of the answer being streamed, from its first chunk."""

    id: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the key belongs to, and whether they may use the admin screens."""

    user: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class RequestPage:
    """One page of the request log and the token of the next (empty on the last page)."""

    records: list[request_record_pb2.RequestRecord]
    next_page_token: str


def _failure(error: grpc.aio.AioRpcError, target: str) -> GatewayFailure:
    code = error.code().name
    message = error.details() or ""
    details = status_details(tuple(error.trailing_metadata() or ()))
    if _unreachable(error):
        message = f"cannot reach the gateway at {target}; is it running?"
    if details.retry_after_seconds is not None and details.reason == "RATE_LIMIT_EXCEEDED":
        message = f"{message} (try again in {details.retry_after_seconds} s)"
    return GatewayFailure(code, details.reason, message, details.field)


def _unreachable(error: grpc.aio.AioRpcError) -> bool:
    """Whether the call failed in transport (the gateway is down or unreachable) rather than by its answer."""
    details = status_details(tuple(error.trailing_metadata() or ()))
    return error.code() == grpc.StatusCode.UNAVAILABLE and not details.from_gateway


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


_ROLES = {"system": chat_pb2.ROLE_SYSTEM, "user": chat_pb2.ROLE_USER, "assistant": chat_pb2.ROLE_ASSISTANT}


def _message(turn: ChatTurn) -> chat_pb2.ChatMessage:
    return chat_pb2.ChatMessage(
        role=_ROLES[turn.role], content=[chat_pb2.ContentPart(type=chat_pb2.CONTENT_PART_TYPE_TEXT, text=turn.text)]
    )


class GatewayClient:
    """The gateway's services over one grpc.aio channel, authenticated with one API key.

    Create it inside the running event loop (the channel binds to it) and close it when done.
    With `root_certificates` (a CA bundle in PEM) the channel uses TLS; without, plain text.
    Every call's outcome goes to `link` (answered or unreachable), for the header's indicator.
    """

    def __init__(self, target: str, api_key: str, root_certificates: bytes | None = None) -> None:
        self.target = target
        self.link = Link()
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        if root_certificates is None:
            self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        self._chat = chat_service_pb2_grpc.ChatServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._keys = key_service_pb2_grpc.KeyServiceStub(self._channel)
        self._quotas = quota_service_pb2_grpc.QuotaServiceStub(self._channel)
        self._policies = policy_service_pb2_grpc.PolicyServiceStub(self._channel)
        self._usage = usage_service_pb2_grpc.UsageServiceStub(self._channel)
        self._users = user_service_pb2_grpc.UserServiceStub(self._channel)

    async def close(self) -> None:
        """Close the channel, cancelling any call still running."""
        await self._channel.close()

    async def _unary(self, method: grpc.aio.UnaryUnaryMultiCallable[_Req, _Resp], request: _Req) -> _Resp:
        """Make one unary call with the key and deadline; a refusal becomes a GatewayFailure."""
        try:
            response = await method(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise self._failed(error) from None
        self.link.reached()
        return response

    def _failed(self, error: grpc.aio.AioRpcError) -> GatewayFailure:
        """The failure of a call, after telling the link whether the gateway answered it."""
        if _unreachable(error):
            self.link.lost()
        elif error.code() != grpc.StatusCode.CANCELLED:  # cancelled here, by the caller: says nothing of the link
            self.link.reached()
        return _failure(error, self.target)

    async def identify(self) -> Identity:
        """Check the key and find out who it belongs to and whether they are an admin (GetCurrentUser)."""
        response = await self._unary(self._users.GetCurrentUser, user_service_pb2.GetCurrentUserRequest())
        return Identity(response.user, response.is_admin)

    async def list_models(self) -> list[model_pb2.Model]:
        """The models the caller may use, sorted by id."""
        response = await self._unary(self._models.ListModels, model_service_pb2.ListModelsRequest())
        return list(response.data)

    async def catalog(self) -> list[model_pb2.Model]:
        """Every model of the catalog, whoever may use it (admins only), sorted by id."""
        response = await self._unary(self._models.ListModels, model_service_pb2.ListModelsRequest(include_all=True))
        return list(response.data)

    async def list_users(self) -> list[user_pb2.User]:
        """Every user the gateway knows, by name, following every page (admins only)."""
        users: list[user_pb2.User] = []
        token = ""
        while True:
            request = user_service_pb2.ListUsersRequest(page_size=1000, page_token=token)
            response = await self._unary(self._users.ListUsers, request)
            users.extend(response.users)
            token = response.next_page_token
            if not token:
                return users

    async def watch_requests(self, user: str = "") -> AsyncIterator[list[request_record_pb2.RequestRecord]]:
        """Batches of requests as the gateway records them; an empty batch says the stream is alive.

        Runs until the caller stops iterating (which cancels the call) or the stream fails.
        """
        call = self._usage.WatchRequests(usage_service_pb2.WatchRequestsRequest(user=user), metadata=self._metadata)
        try:
            async for response in call:
                self.link.reached()
                yield list(response.requests)
        except grpc.aio.AioRpcError as error:
            raise self._failed(error) from None
        finally:
            call.cancel()

    async def stream_chat(
        self, options: ChatOptions, turns: Sequence[ChatTurn]
    ) -> AsyncIterator[str | ChatUsage | AnswerId]:
        """The answer's request id, then its text fragments, then its usage.

        Closing the iterator early (the stop key cancels the worker) cancels the call.
        """
        params = chat_pb2.ChatCompletionParams(
            model=options.model,
            messages=[_message(turn) for turn in turns],
            stream=True,
            stream_options=chat_pb2.StreamOptions(include_usage=True),
        )
        if options.temperature is not None:
            params.temperature = options.temperature
        if options.max_tokens is not None:
            params.max_completion_tokens = options.max_tokens
        call = self._chat.StreamChatCompletion(
            chat_service_pb2.StreamChatCompletionRequest(params=params),
            metadata=self._metadata,
            timeout=STREAM_TIMEOUT_S,
        )
        named = False
        try:
            async for response in call:
                self.link.reached()
                chunk = response.chunk
                if not named and chunk.id:
                    named = True
                    yield AnswerId(chunk.id)
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
                if chunk.HasField("usage"):
                    usage = chunk.usage
                    yield ChatUsage(usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
        except grpc.aio.AioRpcError as error:
            raise self._failed(error) from None
        finally:
            call.cancel()

    async def create_key(
        self, name: str, expires_at: datetime | None, user: str = ""
    ) -> key_service_pb2.CreateKeyResponse:
        """A new key of the caller's (or, for an admin, of `user`), with its secret (shown only now)."""
        request = key_service_pb2.CreateKeyRequest(name=name, user=user)
        if expires_at is not None:
            request.expires_at.CopyFrom(timestamp(expires_at))
        return await self._unary(self._keys.CreateKey, request)

    async def list_keys(self, user: str = "") -> list[key_pb2.Key]:
        """All of the caller's keys (or, for an admin, `user`'s), by name, following every page."""
        keys: list[key_pb2.Key] = []
        token = ""
        while True:
            request = key_service_pb2.ListKeysRequest(user=user, page_size=1000, page_token=token)
            response = await self._unary(self._keys.ListKeys, request)
            keys.extend(response.keys)
            token = response.next_page_token
            if not token:
                return keys

    async def delete_key(self, name: str, user: str = "") -> None:
        """Delete one of the caller's keys (or, for an admin, one of `user`'s)."""
        await self._unary(self._keys.DeleteKey, key_service_pb2.DeleteKeyRequest(name=name, user=user))

    async def get_quota(self, user: str) -> quota_pb2.Quota:
        """A user's quota in effect (admins only)."""
        return (await self._unary(self._quotas.GetQuota, quota_service_pb2.GetQuotaRequest(user=user))).quota

    async def set_quota(
        self, user: str, frequency: quota_pb2.QuotaFrequency.ValueType, limit_usd: str
    ) -> quota_pb2.Quota:
        """Give a user their own quota (admins only); returns the quota now in effect."""
        request = quota_service_pb2.SetQuotaRequest(user=user, frequency=frequency, limit_usd=limit_usd)
        return (await self._unary(self._quotas.SetQuota, request)).quota

    async def reset_quota(self, user: str) -> quota_pb2.Quota:
        """Put a user back on the default quota (admins only); returns it."""
        return (await self._unary(self._quotas.ResetQuota, quota_service_pb2.ResetQuotaRequest(user=user))).quota

    async def quota_status(self, user: str) -> quota_pb2.QuotaStatus:
        """What a user (`me` for the caller) spent this period against their limit."""
        request = quota_service_pb2.GetQuotaStatusRequest(user=user)
        return (await self._unary(self._quotas.GetQuotaStatus, request)).status

    async def get_rate_limit(self, user: str) -> quota_pb2.RateLimit:
        """A user's rate limit in effect (admins, or `me`)."""
        request = quota_service_pb2.GetRateLimitRequest(user=user)
        return (await self._unary(self._quotas.GetRateLimit, request)).rate_limit

    async def set_rate_limit(self, user: str, requests_per_minute: int, tokens_per_minute: int) -> quota_pb2.RateLimit:
        """Give a user their own rate limit (admins only); returns the limit now in effect."""
        request = quota_service_pb2.SetRateLimitRequest(
            user=user, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        return (await self._unary(self._quotas.SetRateLimit, request)).rate_limit

    async def reset_rate_limit(self, user: str) -> quota_pb2.RateLimit:
        """Put a user back on the default rate limit (admins only); returns it."""
        request = quota_service_pb2.ResetRateLimitRequest(user=user)
        return (await self._unary(self._quotas.ResetRateLimit, request)).rate_limit

    async def get_model_access(self, user: str) -> model_access_pb2.ModelAccess:
        """Which models a user may call."""
        request = policy_service_pb2.GetModelAccessRequest(user=user)
        return (await self._unary(self._policies.GetModelAccess, request)).model_access

    async def set_model_access(self, user: str, models: Sequence[str]) -> model_access_pb2.ModelAccess:
        """Set which models a user may call (admins only); returns the access now in effect."""
        request = policy_service_pb2.SetModelAccessRequest(user=user, models=list(models))
        return (await self._unary(self._policies.SetModelAccess, request)).model_access

    async def reset_model_access(self, user: str) -> model_access_pb2.ModelAccess:
        """Put a user back on the default model access (admins only); returns it."""
        request = policy_service_pb2.ResetModelAccessRequest(user=user)
        return (await self._unary(self._policies.ResetModelAccess, request)).model_access

    async def list_requests(self, request: usage_service_pb2.ListRequestsRequest) -> RequestPage:
        """One page of the request log, newest first, as filtered by `request`."""
        response = await self._unary(self._usage.ListRequests, request)
        return RequestPage(list(response.requests), response.next_page_token)

    async def usage_summary(
        self, request: usage_service_pb2.GetUsageSummaryRequest
    ) -> usage_service_pb2.GetUsageSummaryResponse:
        """Spend by model and by day over the request's range and filters."""
        return await self._unary(self._usage.GetUsageSummary, request)
