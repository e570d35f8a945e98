"""Request-scoped dependencies: the transaction, the clients on app state, the caller."""

from __future__ import annotations

from typing import Any, AsyncGenerator

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from service.auth.schemas import AuthUser
from service.config import Settings
from service.db import Tx, transaction
from service.storage import Storage


async def provide_tx(state: State) -> AsyncGenerator[Tx, None]:
    """One transaction per request: committed when the handler returns, rolled back when it
    raises; jobs registered with tx.after_commit are sent after the commit."""
    async with transaction(state.pool) as tx:
        yield tx


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_storage(state: State) -> Storage:
    return state.storage


def provide_user(request: Request[Any, Any, Any]) -> AuthUser:
    return request.user


DEPENDENCIES = {
    "tx": Provide(provide_tx),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "storage": Provide(provide_storage, sync_to_thread=False),
    "user": Provide(provide_user, sync_to_thread=False),
}
