"""UserService: who the caller is, and (for admins) every user the gateway knows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from llmgw.server.core.periods import QuotaFrequency
from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.roles import require_admin
from llmgw.server.rpc.context import Context
from llmgw.server.services.convert import timestamp, usd
from llmgw.server.services.paging import decode_token, encode_token, page_size
from llmgw.server.store import users_repo
from llmgw.server.store.runner import DatabaseRunner
from llmgw.server.store.users_repo import UserSummary
from llmgw.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc


def user_message(summary: UserSummary) -> user_pb2.User:
    """The API view of one known user."""
    message = user_pb2.User(
        user=summary.user,
        keys=summary.keys,
        spent_usd=usd(summary.spent_picodollars),
        limit_usd=usd(summary.limit_picodollars),
        has_own_quota=summary.has_own_quota,
        has_own_policy=summary.has_own_policy,
        has_own_rate_limit=summary.has_own_rate_limit,
        is_admin=summary.is_admin,
        period=user_pb2.QuotaPeriod(start_time=timestamp(summary.period_start), end_time=timestamp(summary.period_end)),
    )
    if summary.last_request_at is not None:
        message.last_request_at.CopyFrom(timestamp(summary.last_request_at))
    return message


class UserServicer(user_service_pb2_grpc.UserServiceServicer):
    """Answers who the caller is, and lists known users for admins (store reads run on the executor)."""

    def __init__(
        self,
        db: DatabaseRunner,
        admins: tuple[str, ...],
        is_admin: Callable[[str], bool],
        default_frequency: QuotaFrequency,
        default_limit: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._admins = admins
        self._is_admin = is_admin
        self._default_frequency = default_frequency
        self._default_limit = default_limit
        self._clock = clock

    async def GetCurrentUser(
        self, request: user_service_pb2.GetCurrentUserRequest, context: Context
    ) -> user_service_pb2.GetCurrentUserResponse:
        """The authenticated caller and whether they are an admin."""
        principal = current_principal()
        return user_service_pb2.GetCurrentUserResponse(user=principal.user, is_admin=principal.is_admin)

    async def ListUsers(
        self, request: user_service_pb2.ListUsersRequest, context: Context
    ) -> user_service_pb2.ListUsersResponse:
        """A page of known users by name (admins only), with a token for the next."""
        require_admin(current_principal())
        size = page_size(request.page_size)
        after = decode_token(request.page_token, 1)[0] if request.page_token else ""
        now = self._clock()

        def read() -> tuple[list[UserSummary], bool]:
            names = users_repo.user_names(after, size + 1, self._admins)
            page = names[:size]
            found = users_repo.summaries(page, self._default_frequency, self._default_limit, self._is_admin, now)
            return found, len(names) > size

        found, more = await self._db.run(read)
        token = encode_token(found[-1].user) if more and found else ""
        return user_service_pb2.ListUsersResponse(users=[user_message(user) for user in found], next_page_token=token)
