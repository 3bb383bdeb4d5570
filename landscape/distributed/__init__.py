"""Scale-out with ``torch.distributed`` under ``torchrun``: process group, shards, all-reduces.

Nothing here starts processes: ``torchrun`` does. Without ``WORLD_SIZE`` every helper is the
identity and ``torch.distributed`` is never initialised.
"""

from landscape.distributed.along import map_round_robin
from landscape.distributed.collectives import (
    all_gather_objects,
    all_reduce_,
    all_reduce_floats,
    broadcast_object,
    reduce_gradients_,
    weighted_mean,
    weighted_means,
)
from landscape.distributed.context import (
    BACKEND_ENV,
    DistContext,
    barrier,
    context,
    destroy,
    init_from_env,
)
from landscape.distributed.data_parallel import DataParallel
from landscape.distributed.grid import PointRun, fill_round_robin
from landscape.distributed.shard import ShardedBatches, round_robin, shard_evalset, shard_range
from landscape.distributed.store import CollectiveStore

__all__ = [
    "BACKEND_ENV",
    "CollectiveStore",
    "DataParallel",
    "DistContext",
    "PointRun",
    "ShardedBatches",
    "all_gather_objects",
    "all_reduce_",
    "all_reduce_floats",
    "barrier",
    "broadcast_object",
    "context",
    "destroy",
    "fill_round_robin",
    "init_from_env",
    "map_round_robin",
    "reduce_gradients_",
    "round_robin",
    "shard_evalset",
    "shard_range",
    "weighted_mean",
    "weighted_means",
]
