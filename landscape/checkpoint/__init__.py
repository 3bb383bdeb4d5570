"""Checkpoints: atomic save, safe load, verified content, parameter dicts and flat vectors.

A checkpoint holds only tensors and plain Python values, so it loads with
``torch.load(..., weights_only=True)``; a file that would need full unpickling is refused and
nothing in it is executed. Writes go to a temporary file that is fsynced and renamed, so a
killed process leaves the previous checkpoint intact.

Since format version 2 a payload carries two SHA-256 digests (``digests``): ``state``, the
:func:`state_digest` of the model state, and ``rest``, that of everything else (optimizer
state, RNG states, config, metrics). ``torch.load`` checks no CRC, so without them a flipped
byte in the tensor data loads silently as a changed weight; :func:`load_checkpoint` recomputes
both and refuses a mismatch. The optimizer state is covered because resuming from a damaged
accumulator or momentum buffer corrupts every later epoch without a trace, but it stays out of
the cache identity (equal weights share analyses). :func:`checkpoint_digest` reads the stored
``state`` digest and hashes no tensor. Version 1 files (no digests) load unverified.

Parameters are addressed as a dict ``name -> tensor`` in ``model.named_parameters()`` order;
a flat vector is their concatenation in that order.
"""


from landscape._digest import state_digest
from landscape.checkpoint._format import FORMAT, FORMAT_VERSION, CheckpointError
from landscape.checkpoint.file import (
    Checkpoint,
    check_comparable,
    load_checkpoint,
    load_into,
    save_checkpoint,
)
from landscape.checkpoint.header import (
    CheckpointHeader,
    checkpoint_digest,
    checkpoint_header,
    is_landscape_checkpoint,
    model_digest,
)
from landscape.params import params_to_vector, vector_to_params

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointHeader",
    "check_comparable",
    "checkpoint_digest",
    "checkpoint_header",
    "is_landscape_checkpoint",
    "load_checkpoint",
    "load_into",
    "model_digest",
    "params_to_vector",
    "save_checkpoint",
    "state_digest",
    "vector_to_params",
]
