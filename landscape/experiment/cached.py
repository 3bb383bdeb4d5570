"""One helper that turns a core computation into a cached store entry.

Every cached analysis of the suite is an :class:`Analysis` (its store name, schema version and
what an entry must hold) asked through :func:`cached` (a whole result) or :func:`cached_grid`
(a result filled in point by point). The store key is always built the same way:

    key = SHA-256 of (analysis name, schema version, parameters,
                      {role: content digest of each input subject}, data identity)

so the same question gives the same key and answers from the store, and a changed network,
parameter, dataset or schema version gives a new one. Under ``torchrun`` the store is used by
rank 0 only (:class:`landscape.distributed.CollectiveStore`): every rank computes (the
computation holds the collectives), rank 0 stores, the other ranks get ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from landscape.distributed import CollectiveStore, context
from landscape.experiment.subject import Subject
from landscape.store import Entry, Partial, Store

__all__ = ["Analysis", "cached", "cached_grid", "digests"]

SchemaFn = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Analysis:
    """A cached analysis.

    Attributes:
        name: the store name, e.g. ``"hessian.topk"``.
        version: the schema version (bump it when the stored fields or their meaning change).
        schema: ``params -> {field: (shape, kinds)}`` that a stored entry must match (see
            :meth:`landscape.store.Store.get_or_compute`), or ``None``.

    """

    name: str
    version: int = 1
    schema: SchemaFn | None = None

    def schema_for(self, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The schema an entry for ``params`` must match."""
        return self.schema(params) if self.schema is not None else None


def digests(inputs: Mapping[str, Subject | str]) -> dict[str, str]:
    """``{role: digest}`` from subjects or digests.

    >>> digests({"checkpoint": "ab12"})
    {'checkpoint': 'ab12'}
    """
    return {role: s if isinstance(s, str) else s.digest for role, s in inputs.items()}


def _store(store: Store | CollectiveStore) -> Store | CollectiveStore:
    if context().distributed and not isinstance(store, CollectiveStore):
        return CollectiveStore(store)
    return store


def cached(
    store: Store | CollectiveStore,
    analysis: Analysis,
    params: Mapping[str, Any],
    compute: Callable[[], Mapping[str, Any]],
    *,
    inputs: Mapping[str, Subject | str],
    data: Any = None,
) -> Entry | None:
    """The entry answering ``analysis`` for ``params`` and ``inputs``: stored or computed.

    Args:
        store: the result store.
        analysis: what is computed.
        params: its JSON-able parameters (part of the key).
        compute: zero-argument callable returning the result dict (runs only on a miss).
        inputs: role -> subject (or content digest) of each input network.
        data: JSON-able identity of the data the result depends on (part of the key).

    Returns:
        The entry (``entry.cached`` says whether it came from the store); ``None`` on
        torchrun ranks other than 0.

    >>> import tempfile
    >>> square = Analysis("demo.square", schema=lambda p: {"y": ((), "i")})
    >>> e = cached(Store(tempfile.mkdtemp()), square, {"x": 3}, lambda: {"y": 9},
    ...            inputs={"checkpoint": "ab12"})
    >>> e["y"], e.cached
    (9, False)
    """
    return _store(store).get_or_compute(
        analysis.name, dict(params), digests(inputs), compute, dataset=data,
        version=analysis.version, schema=analysis.schema_for(params),
    )


def cached_grid(
    store: Store | CollectiveStore,
    analysis: Analysis,
    params: Mapping[str, Any],
    *,
    inputs: Mapping[str, Subject | str],
    data: Any = None,
    fields: Mapping[str, tuple[tuple[int, ...], Any]],
    grid: tuple[int, ...] | None = None,
) -> Partial | None:
    """The store's partial entry for a result written point by point (resumable).

    Same key as :func:`cached` would use, so the finished grid is an ordinary entry.

    Returns:
        The :class:`landscape.store.Partial`; ``None`` on torchrun ranks other than 0.

    """
    return _store(store).partial(
        analysis.name, dict(params), digests(inputs), dataset=data, version=analysis.version,
        fields=fields, grid=grid, schema=analysis.schema_for(params),
    )
