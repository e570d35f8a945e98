"""Failed-login throttle in Redis: per username and per client address, fixed windows.

Each attempt is counted *before* its password is checked (INCR, atomic), and a successful
login takes its count back: so a burst of concurrent guesses cannot all be checked before the
first failure is recorded, while successes never count once they are done. (A success holds a
slot only for the ~50 ms its password check takes.) If Redis is down the throttle fails open
(logins keep working) and says so in the log."""

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

    async def attempt(self, username: str, addr: str) -> bool:
        """Count an attempt; RateLimited (429 with Retry-After) when the username or the address
        is over its limit. Returns whether it was counted (False: Redis is away, fail open)."""
        if self.redis is None:
            return False
        ukey, akey = self._keys(username, addr)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in (ukey, akey):
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                ucount, _, acount, _ = await pipe.execute()
            for key, count, limit in ((ukey, ucount, self.per_user), (akey, acount, self.per_addr)):
                if int(count) > limit:
                    ttl = await self.redis.ttl(key)
                    retry = max(int(ttl), 1) if ttl and ttl > 0 else self.window
                    raise RateLimited(f"too many failed logins; retry in {retry} s",
                                      headers={"Retry-After": str(retry)})
        except RateLimited:
            raise
        except Exception:
            log.warning("login throttle unavailable (Redis); allowing the attempt", exc_info=True)
            return False
        return True

    async def succeeded(self, username: str, addr: str) -> None:
        """The attempt was a successful login: it does not count."""
        if self.redis is None:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in self._keys(username, addr):
                    pipe.decr(key)
                await pipe.execute()
        except Exception:
            log.warning("could not take back a successful login's count (Redis)", exc_info=True)
