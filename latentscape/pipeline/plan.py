"""Split n images into shards of consecutive indices."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShardTask:
    shard_id: int
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start


def plan_shards(n: int, shard_size: int) -> list[ShardTask]:
    """Shard k holds indices k*shard_size .. min(n, (k+1)*shard_size) - 1."""
    return [ShardTask(k, s, min(n, s + shard_size)) for k, s in enumerate(range(0, n, shard_size))]
