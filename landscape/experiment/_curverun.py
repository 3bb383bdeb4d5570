"""Curve runs in a run directory: resumable fits between two subjects, and loading them back.

A curve run directory holds ``config.json`` (the endpoints' ``source`` records and content
digests, the data's record, the fit settings), ``metrics.jsonl`` and ``epoch_NNNN.pt``
(``epoch_0000.pt`` is the chord initialisation): the middle control points in
``extra["middle"]`` (a ``[K-1, P]`` tensor), the optimizer state, and as model state the
curve's midpoint ``phi(1/2)`` so that ``landscape info`` and ``load_checkpoint`` work on it.
The fit itself is :func:`landscape.curves.curve_step` on :class:`landscape.optim.EpochRunner`
(minibatch order, ``t`` and dropout depend on ``(seed, epoch)`` only), so a resumed fit is
bit-identical to an uninterrupted one. Runs written before endpoints were recorded as
subjects (``endpoints.start.path/digest`` of landscape checkpoints) are read as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape.checkpoint import CheckpointError, load_checkpoint
from landscape.curves import CURVE_KINDS, Curve
from landscape.data import Dataset, get_dataset
from landscape.experiment.subject import DataOptions, ModelOptions, Subject, resolve_subject
from landscape.rundir import RunDir

__all__ = ["CURVE_RUN_KIND", "CurveFitConfig", "LoadedCurve", "endpoint_record",
           "load_curve", "resolve_endpoint", "subject_from_record"]

CURVE_RUN_KIND = "curve"


@dataclass(frozen=True)
class CurveFitConfig:
    """Settings of a curve fit (Chao et al. 2020, Table 3: lr 0.1, momentum 0.9, no wd).

    ``batch_size`` and ``augment`` apply to registry datasets (a data file brings its own
    batches).

    >>> CurveFitConfig(epochs=4).degree
    2
    """

    degree: int = 2
    kind: str = "bezier"
    epochs: int = 10
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    seed: int = 0
    schedule: str = "garipov"
    augment: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise ValueError(f"kind must be one of {CURVE_KINDS}, got {self.kind!r}")
        checks = [
            ("degree", self.degree, int, 1), ("epochs", self.epochs, int, 1),
            ("batch_size", self.batch_size, int, 1),
        ]
        for name, value, typ, low in checks:
            if not isinstance(value, typ) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.degree < 2:
            raise ValueError(
                f"degree must be >= 2 to have a middle control point to fit, got {self.degree}"
            )
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or (name == "lr" and value == 0):
                what = "positive" if name == "lr" else "non-negative"
                raise ValueError(f"{name} must be a {what} number, got {value!r}")


@dataclass
class LoadedCurve:
    """A curve run loaded back: the curve, a network to evaluate it with, its data, settings.

    Attributes:
        curve: the curve (on the evaluation device).
        model: a network of the endpoints' architecture (its parameters are not used).
        config: the run's ``config.json``.
        epoch: the checkpoint's epoch.
        start: the first endpoint as a subject (its ``data`` are the curve's data).
        end: the second endpoint.
        path: the run directory.

    """

    curve: Curve
    model: nn.Module
    config: dict[str, Any]
    epoch: int
    start: Subject | None = None
    end: Subject | None = None
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        """Split -> evaluation batches of the data the curve was fitted on."""
        return self.start.data if self.start is not None else {}

    @property
    def data_spec(self) -> dict[str, dict[str, Any]]:
        """Split -> JSON identity of those batches (part of store keys)."""
        return self.start.data_spec if self.start is not None else {}

    def dataset(self, **overrides: Any) -> Dataset:
        """Rebuild the registry dataset the curve was fitted on.

        Raises:
            ValueError: the curve was fitted on a data file, not a registry dataset.

        """
        spec = self.config.get("dataset")
        if not spec:
            raise ValueError("this curve was fitted on a --data-file, not a registry dataset: "
                             "use loaded.data['train'] / loaded.data['test']")
        return get_dataset(spec["name"], **{**spec.get("options", {}), **overrides})


def _absolute(spec: str | None, definition: Mapping[str, Any] | None) -> str | None:
    """``PATH.py:FACTORY`` with the resolved path of its definition (cwd-independent)."""
    if spec is None or not definition or definition.get("kind") != "file":
        return spec
    return f"{definition['path']}:{definition['factory']}"


def endpoint_record(subject: Subject) -> dict[str, Any]:
    """What ``config.json`` keeps of an endpoint: source, digest, label (and path).

    >>> from landscape.experiment.subject import Subject
    >>> s = Subject(model=nn.Linear(1, 1), data={}, data_spec={}, digest="ab", label="a.pt",
    ...             source={"kind": "checkpoint", "path": "/r/a.pt"})
    >>> endpoint_record(s)["path"], endpoint_record(s)["digest"]
    ('/r/a.pt', 'ab')
    """
    source = dict(subject.source)
    if source.get("kind") == "weights":
        source["model"] = _absolute(source.get("model"), source.get("definition"))
    out: dict[str, Any] = {"source": source, "digest": subject.digest, "label": subject.label,
                           "path": source.get("path")}
    if subject.checkpoint is not None:
        out["model"], out["epoch"] = subject.checkpoint.model_name, subject.checkpoint.epoch
    return out


def data_record(subject: Subject) -> dict[str, Any]:
    """The data's record with a cwd-independent data file path."""
    source = dict(subject.data_source)
    if source.get("kind") == "file":
        source["spec"] = _absolute(source.get("spec"), source.get("definition"))
    return source


def _data_options(record: Mapping[str, Any], *, batch_size: int, device: Any,
                  dtype: torch.dtype, root: str | None) -> DataOptions:
    if record.get("kind") == "file":
        return DataOptions(data_file=record["spec"], file_options=record.get("options") or {},
                           batch_size=batch_size, device=device, dtype=dtype)
    return DataOptions(dataset=record["name"], options=record.get("options") or {},
                       root=root if root is not None else record.get("root"),
                       batch_size=batch_size, device=device, dtype=dtype)


def subject_from_record(record: Mapping[str, Any], data: Mapping[str, Any], *,
                        splits: tuple[str, ...], batch_size: int, device: Any,
                        dtype: torch.dtype, root: str | None = None) -> Subject:
    """Rebuild an endpoint from its record (:func:`endpoint_record`) and the data's record."""
    source = record.get("source") or {"kind": "checkpoint", "path": record["path"]}
    opts = _data_options(data, batch_size=batch_size, device=device, dtype=dtype, root=root)
    model = ModelOptions()
    if source.get("kind") == "weights":
        model = ModelOptions(spec=source["model"], options=source.get("options") or {})
    return resolve_subject(source["path"], model=model, data=opts, splits=splits)


def resolve_endpoint(target: Subject | str | Path, *, dataset: Dataset | None,
                     device: Any, dtype: torch.dtype | None) -> Subject:
    """A subject as given, or a landscape checkpoint's path resolved with its run's data.

    A path is resolved in the checkpoint's own dtype unless ``dtype`` says otherwise, and
    with ``dataset`` (a registry dataset) when given, else the data its run recorded.
    """
    if isinstance(target, Subject):
        return target
    if dtype is None:
        from landscape.rundir import resolve_checkpoint

        ckpt = load_checkpoint(resolve_checkpoint(target))
        dtype = next(iter(ckpt.parameters().values())).dtype
    opts = DataOptions(dataset=dataset.name if dataset is not None else None,
                       options=dict(dataset.options) if dataset is not None else {},
                       device=device if device is not None else "cpu", dtype=dtype)
    return resolve_subject(target, data=opts, splits=())


def _recorded_data(config: Mapping[str, Any]) -> dict[str, Any]:
    if config.get("data_source"):
        return dict(config["data_source"])
    spec = config["dataset"]  # a run written before endpoints were subjects: registry data
    return {"kind": "registry", "name": spec["name"], "options": spec.get("options") or {},
            "root": None}


def _recorded_dtype(config: Mapping[str, Any], middle: torch.Tensor) -> torch.dtype:
    return getattr(torch, config["dtype"]) if config.get("dtype") else middle.dtype


def _check_digest(role: str, record: Mapping[str, Any], subject: Subject) -> None:
    if record.get("digest") != subject.digest:
        raise CheckpointError(
            f"endpoint {role} {record.get('path')} has changed since the curve was fitted "
            f"(digest {subject.digest[:12]}, recorded {str(record.get('digest'))[:12]}): "
            "restore the original file or fit a new curve"
        )


def load_curve(
    run_dir: str | Path,
    *,
    epoch: int | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 1000,
    data_root: str | None = None,
    splits: tuple[str, ...] = ("train", "test"),
) -> LoadedCurve:
    """Load a fitted curve from its run directory (the last epoch by default).

    The endpoints are resolved again from their records (landscape checkpoints, or weights
    files with their model) and checked against their recorded digests; the data too
    (registry dataset or data file), as evaluation batches of ``batch_size`` in the dtype the
    curve was fitted in.

    Args:
        run_dir: the curve's run directory.
        epoch: the checkpoint to load (default: the last).
        device: where to evaluate.
        batch_size: samples per evaluation batch of a registry dataset.
        data_root: where a file-backed registry dataset lives now (default: as recorded).
        splits: the data splits to resolve.

    Raises:
        FileNotFoundError: not a curve run, or no checkpoint of that epoch.
        landscape.checkpoint.CheckpointError: an endpoint changed or is unreadable.

    """
    run = RunDir(run_dir)
    config = run.read_config()
    if config.get("type") != CURVE_RUN_KIND:
        raise FileNotFoundError(
            f"{run.path} is not a curve run (config.json has type {config.get('type')!r}); "
            "curve runs are made by `landscape curve fit A B --out DIR`"
        )
    from landscape.rundir import resolve_checkpoint

    ckpt = load_checkpoint(resolve_checkpoint(run.path, epoch))
    middle = ckpt.extra["middle"]
    dtype = _recorded_dtype(config, middle)
    data = _recorded_data(config)
    subjects = []
    for role, wanted in (("start", splits), ("end", ())):
        record = config["endpoints"][role]
        subject = subject_from_record(record, data, splits=wanted, batch_size=batch_size,
                                      device=device, dtype=dtype, root=data_root)
        _check_digest(role, record, subject)
        subjects.append(subject)
    start, end = subjects
    curve = Curve(start.point, end.point, degree=config["degree"], kind=config["kind"])
    with torch.no_grad():
        for param, value in zip(curve.middle, middle):
            param.copy_(value)
    return LoadedCurve(curve=curve, model=start.model, config=config, epoch=ckpt.epoch,
                       start=start, end=end, path=run.path)


def fit_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a curve run's config that a resume must match (paths may move)."""
    ends = config.get("endpoints") or {}
    data = config.get("data_source") or {}
    return {
        "endpoints": {r: (ends.get(r) or {}).get("digest") for r in ("start", "end")},
        "data": (config.get("dataset") or {}).get("digest") or data.get("definition"),
        "dtype": config.get("dtype"),
        **{f.name: config.get(f.name) for f in fields(CurveFitConfig)},
    }


def as_json(value: Any) -> Any:
    """``value`` as ``config.json`` reads it back (tuples become lists)."""
    return json.loads(json.dumps(value))


def config_of(cfg: CurveFitConfig) -> dict[str, Any]:
    """The fit settings as config entries."""
    return asdict(cfg)
