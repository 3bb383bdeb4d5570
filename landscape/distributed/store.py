"""The result store under ``torchrun``: every rank computes, rank 0 alone writes.

:class:`CollectiveStore` wraps a :class:`landscape.store.Store` so that analyses written
against ``store.get_or_compute(name, params, inputs, compute)`` become collective: rank 0
looks the question up and tells the others; on a miss every rank runs ``compute`` (which
holds the collectives: distributed Hessian-vector products, sharded passes), then rank 0
stores the result. Other ranks get ``None``. The store is touched by one process only, so it
may live on a file system that only rank 0's node sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from landscape.distributed.collectives import broadcast_object
from landscape.distributed.context import barrier, context

__all__ = ["CollectiveStore"]


class CollectiveStore:
    """A store whose ``get_or_compute`` is called by every rank at once.

    Args:
        store: the :class:`landscape.store.Store` (only rank 0 uses it).

    In a single process it is the store itself:

    >>> import tempfile
    >>> from landscape.store import Store
    >>> cs = CollectiveStore(Store(tempfile.mkdtemp()))
    >>> cs.get_or_compute("demo", {"n": 1}, None, lambda: {"x": 2.0})["x"]
    2.0
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def root(self) -> Any:
        """The wrapped store's root directory."""
        return self.store.root

    def get_or_compute(
        self, name: str, params: Mapping[str, Any], inputs: Mapping[str, str] | None,
        compute: Callable[[], Mapping[str, Any]], **where: Any,
    ) -> Any:
        """:meth:`landscape.store.Store.get_or_compute`, called by every rank at once.

        ``where`` holds the store's keyword arguments (``dataset``, ``version``). Rank 0
        looks the question up and tells the others; on a miss ``compute`` runs on every rank
        (never on only some, so collectives inside it cannot hang) and rank 0 stores it.

        Returns:
            Rank 0's entry; ``None`` on the other ranks.

        """
        ctx = context()
        if not ctx.distributed:
            return self.store.get_or_compute(name, params, inputs, compute, **where)
        entry = self.store.find(name, params, inputs, **where) if ctx.is_main else None
        if broadcast_object(entry is not None):
            return entry
        result = compute()
        if ctx.is_main:
            entry = self.store.get_or_compute(name, params, inputs, lambda: result, **where)
        barrier()
        return entry

    def partial(self, name: str, params: Mapping[str, Any], inputs: Mapping[str, str] | None = None,
                **options: Any) -> Any:
        """Rank 0's :meth:`landscape.store.Store.partial` entry; ``None`` on the other ranks."""
        return self.store.partial(name, params, inputs, **options) if context().is_main else None
