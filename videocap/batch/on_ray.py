"""The Ray engine of ``videocap batch`` (``--engine ray``): a Ray Data pipeline, executed streaming.

Three stages of actors, each holding its models from its start to the end of the batch:

1. tracking: one video per call (``BatchWorker.track``), YOLO loaded once per actor; ``track_gpus`` (a
   fraction: several trackers share a GPU) and ``track_concurrency`` actors;
2. captioning: ``group`` tracked videos per call, whose tracks share DAM batches (``BatchWorker.caption``);
3. writing: each video's output folder (``BatchWorker.write``); the driver appends each finished video's rows
   to the index as they stream out, so an interrupt loses only the videos in flight.

Videos travel between stages pickled (the tracks with their masks, then with their captions), so the
outputs are exactly those of the local engine for the same groups of videos. Ray starts locally when no
address is given (``ray.init()``); ``address`` joins a running cluster (``auto``, ``ray://head:10001``).
On a cluster, the videos and DIR must be on a filesystem every node mounts at the same path.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from videocap.batch.worker import BatchSettings, BatchVideo, BatchWorker, one_line
from videocap.errors import UserError
from videocap.pipeline import CaptionRun

INSTALL = 'pip install "videocap[ray]"'


@dataclass(frozen=True)
class RayOptions:
    """Where Ray runs and what each stage's actors get; None GPUs: a share when the cluster has GPUs."""

    address: str | None = None
    track_gpus: float | None = None  # None: 0.25 of a GPU when there are GPUs, else none
    caption_gpus: float | None = None  # None: a whole GPU when there are GPUs, else none
    track_cpus: float = 1.0
    caption_cpus: float = 1.0
    write_cpus: float = 0.5
    track_concurrency: int = 1
    caption_concurrency: int = 1
    write_concurrency: int = 1


def check_ray(address: str | None = None) -> None:
    """One line, before any model loads, when Ray Data is not installed or ``address`` cannot be a Ray
    cluster (its form, Ray Client for ``ray://``, and a head that answers on ``host:port``)."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise UserError(f"--engine ray needs Ray Data ({exc}): {INSTALL}") from exc
    if address is None or address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise UserError(f"--ray-address {address}: give auto, HOST:PORT of the head (its GCS, e.g. 10.0.0.5:6379) "
                        "or ray://HOST:PORT (Ray Client, e.g. ray://10.0.0.5:10001)")
    if client and importlib.util.find_spec("grpc") is None:
        raise UserError(f"--ray-address {address}: Ray Client needs ray[client] (grpcio): {INSTALL}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except OSError as exc:
        raise UserError(f"--ray-address {address}: no Ray head answers there ({exc.strerror or exc}): start it "
                        "with `ray start --head`, or check the address") from exc


def run_ray(out: Path, videos: Sequence[BatchVideo], settings: BatchSettings, options: RayOptions, group: int,
            record: Callable[[dict, list[dict]], None]) -> None:
    """The videos through the three stages; ``record`` gets each finished video's rows, as they come."""
    import ray

    _quiet_ray_data()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.address, log_to_driver=False, configure_logging=False)
    try:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        track_gpus = options.track_gpus if options.track_gpus is not None else (0.25 if gpus else 0)
        caption_gpus = options.caption_gpus if options.caption_gpus is not None else (1 if gpus else 0)
        items = [{"video": pickle.dumps(video), "run": b"", "error": ""} for video in videos]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        dataset = dataset.map(_TrackStage, fn_constructor_args=(settings, options.track_cpus),
                              concurrency=options.track_concurrency, num_cpus=options.track_cpus, num_gpus=track_gpus)
        dataset = dataset.map_batches(_CaptionStage, fn_constructor_args=(settings, options.caption_cpus),
                                      batch_size=group, batch_format="pyarrow", concurrency=options.caption_concurrency,
                                      num_cpus=options.caption_cpus, num_gpus=caption_gpus)
        dataset = dataset.map(_WriteStage, fn_constructor_args=(settings, str(out)),
                              concurrency=options.write_concurrency, num_cpus=options.write_cpus)
        for row in dataset.iter_rows():
            video_row, tracks = json.loads(row["rows"])
            record(video_row, tracks)
    finally:
        if started_here:
            ray.shutdown()


def _quiet_ray_data() -> None:
    """videocap shows its own progress line; Ray Data's log lines and bars would bury it."""
    import logging

    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _pack(run: CaptionRun) -> bytes:
    """A run pickled for the next stage, its clock made relative (each process has its own)."""
    run.started = time.perf_counter() - run.started
    return pickle.dumps(run)


def _unpack(data: bytes) -> CaptionRun:
    run = pickle.loads(data)
    run.started = time.perf_counter() - run.started
    return run


def _threads(cpus: float) -> None:
    """Torch in an actor uses the CPUs Ray gave it, not every core of the node."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))


class _TrackStage:
    def __init__(self, settings: BatchSettings, cpus: float) -> None:
        _threads(cpus)
        self.worker = BatchWorker(settings, Path("."))

    def __call__(self, row: dict) -> dict:
        try:
            return {**row, "run": _pack(self.worker.track(pickle.loads(row["video"])))}
        except Exception as exc:  # noqa: BLE001 - recorded as this video's failure
            return {**row, "error": one_line(exc)}


class _CaptionStage:
    def __init__(self, settings: BatchSettings, cpus: float) -> None:
        _threads(cpus)
        self.worker = BatchWorker(settings, Path("."))

    def __call__(self, batch) -> dict:
        rows = batch.to_pylist()
        tracked = [(row, _unpack(row["run"])) for row in rows if not row["error"]]
        errors = self.worker.caption([run for _, run in tracked])
        for n, (row, run) in enumerate(tracked):
            if n in errors:
                row.update(run=b"", error=errors[n])
            else:
                row["run"] = _pack(run)
        return {key: [row[key] for row in rows] for key in ("video", "run", "error")}


class _WriteStage:
    def __init__(self, settings: BatchSettings, out: str) -> None:
        self.worker = BatchWorker(settings, Path(out))

    def __call__(self, row: dict) -> dict:
        video = pickle.loads(row["video"])
        if row["error"]:
            rows = self.worker.failed(video, row["error"])
        else:
            try:
                rows = self.worker.write(video, _unpack(row["run"]))
            except Exception as exc:  # noqa: BLE001
                rows = self.worker.failed(video, one_line(exc))
        return {"rows": json.dumps(rows)}
