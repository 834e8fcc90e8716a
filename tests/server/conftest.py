"""The server tests' fixtures: a real redis-server for the cluster's nodes."""

from __future__ import annotations

from tests.support.redis import own_redis, redis_server, redis_url

__all__ = ["own_redis", "redis_server", "redis_url"]
