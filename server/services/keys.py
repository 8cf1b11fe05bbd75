"""KeyService: self-service API keys; admins may act for any user.

Another user's key is indistinguishable from one that does not exist: a user can
only name their own keys, and DeleteKey answers NOT_FOUND alike for both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from llmgw.server.governance.identity import KeyAuthenticator, current_principal
from llmgw.server.governance.roles import target_user
from llmgw.server.rpc.context import Context
from llmgw.server.services.convert import optional_datetime, timestamp
from llmgw.server.services.paging import decode_token, encode_token, page_size
from llmgw.server.store import keys_repo
from llmgw.server.store.models import ApiKey
from llmgw.server.store.runner import DatabaseRunner
from llmgw.v1 import key_pb2, key_service_pb2, key_service_pb2_grpc
from llmgw.wire.errors import NotFound


def key_message(key: ApiKey, now: datetime) -> key_pb2.Key:
    """The API view of a key: never its secret or hash."""
    message = key_pb2.Key(
        name=key.name,
        user=key.user,
        created_at=timestamp(key.created_at),
        status=key_pb2.KEY_STATUS_VALID if key.is_usable(now) else key_pb2.KEY_STATUS_EXPIRED,
    )
    if key.expires_at is not None:
        message.expires_at.CopyFrom(timestamp(key.expires_at))
    if key.last_used_at is not None:
        message.last_used_at.CopyFrom(timestamp(key.last_used_at))
    return message


class KeyServicer(key_service_pb2_grpc.KeyServiceServicer):
    """Creates, lists and deletes API keys in the store, off the event loop."""

    def __init__(
        self,
        server_secret: bytes,
        authenticator: KeyAuthenticator,
        db: DatabaseRunner,
        clock: Callable[[], datetime],
    ) -> None:
        self._server_secret = server_secret
        self._authenticator = authenticator
        self._db = db
        self._clock = clock

    async def CreateKey(
        self, request: key_service_pb2.CreateKeyRequest, context: Context
    ) -> key_service_pb2.CreateKeyResponse:
        """Create a key and return its secret, this once."""
        user = target_user(current_principal(), request.user)
        expires_at = optional_datetime(request, "expires_at")
        now = self._clock()
        key, secret = await self._db.run(
            lambda: keys_repo.create_key(user, request.name, expires_at, self._server_secret, now=now)
        )
        return key_service_pb2.CreateKeyResponse(key=key_message(key, now), secret=secret)

    async def ListKeys(
        self, request: key_service_pb2.ListKeysRequest, context: Context
    ) -> key_service_pb2.ListKeysResponse:
        """The user's keys by name, a page at a time."""
        user = target_user(current_principal(), request.user)
        size = page_size(request.page_size)
        after = decode_token(request.page_token, 1)[0] if request.page_token else ""
        keys = await self._db.run(lambda: keys_repo.list_keys(user, after=after, limit=size + 1))
        now = self._clock()
        page = keys[:size]
        token = encode_token(page[-1].name) if len(keys) > size else ""
        return key_service_pb2.ListKeysResponse(keys=[key_message(key, now) for key in page], next_page_token=token)

    async def GetCaller(
        self, request: key_service_pb2.GetCallerRequest, context: Context
    ) -> key_service_pb2.GetCallerResponse:
        """Who the credential belongs to; authentication already happened in the interceptor."""
        principal = current_principal()
        return key_service_pb2.GetCallerResponse(
            user=principal.user, key_name=principal.key_name, admin=principal.is_admin
        )

    async def DeleteKey(
        self, request: key_service_pb2.DeleteKeyRequest, context: Context
    ) -> key_service_pb2.DeleteKeyResponse:
        """Delete the user's key; it stops working on this replica at once."""
        user = target_user(current_principal(), request.user)
        keys_repo.validate_key_name(request.name)
        now = self._clock()
        deleted = await self._db.run(lambda: keys_repo.delete_key(user, request.name, now=now))
        if not deleted:
            raise NotFound(f"No key named {request.name!r}.")
        self._authenticator.forget(user, request.name)
        return key_service_pb2.DeleteKeyResponse()
