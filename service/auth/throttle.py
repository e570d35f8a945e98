"""Failed-login throttle in Redis: per username and per client address, fixed windows.
Only failures count; successes and registrations are never throttled. If Redis is down the
throttle fails open (logins keep working) and says so in the log."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from service.errors import RateLimited

log = logging.getLogger("mybox.auth.throttle")
PREFIX = "mybox:loginfail:"


class LoginThrottle:
    def __init__(self, redis: Redis | None, *, per_user: int, per_addr: int, window: int) -> None:
        self.redis, self.per_user, self.per_addr, self.window = redis, per_user, per_addr, window

    def _keys(self, username: str, addr: str) -> tuple[str, str]:
        return f"{PREFIX}u:{username.lower()[:128]}", f"{PREFIX}a:{addr}"

    async def check(self, username: str, addr: str) -> None:
        if self.redis is None:
            return
        ukey, akey = self._keys(username, addr)
        try:
            ucount, acount = await self.redis.mget(ukey, akey)
            for key, count, limit in ((ukey, ucount, self.per_user), (akey, acount, self.per_addr)):
                if count is not None and int(count) >= limit:
                    ttl = await self.redis.ttl(key)
                    retry = max(int(ttl), 1) if ttl and ttl > 0 else self.window
                    raise RateLimited(f"too many failed logins; retry in {retry} s",
                                      headers={"Retry-After": str(retry)})
        except RateLimited:
            raise
        except Exception:
            log.warning("login throttle unavailable (Redis); allowing the attempt", exc_info=True)

    async def record_failure(self, username: str, addr: str) -> None:
        if self.redis is None:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in self._keys(username, addr):
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                await pipe.execute()
        except Exception:
            log.warning("could not record a failed login (Redis)", exc_info=True)
