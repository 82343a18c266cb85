"""Model references: one rule for what a ``--model`` / ``--dam`` value (or a config's) names.

- a **local path** when it exists, or when it is written as a path: it starts with ``./``, ``../``, ``/``
  or ``~`` (in a config file, relative paths resolve against the config's folder);
- a **hub id** when it reads ``org/name`` (``nvidia/DAM-3B-Video``): found in, or downloaded into,
  huggingface_hub's cache (``HF_HOME`` / ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` apply);
- an **ultralytics asset name** when it is a bare file name (``yolo11x-seg.pt``): found in the current
  folder or ultralytics' weights folder, else downloaded by ultralytics from its GitHub releases.

Also here: what captions.json records about each model (name, revision, licence), and the size of a
model against the memory it will be loaded into.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from videocap.errors import UserError
from videocap.resources import DATA_DIR

PATH, HUB, ASSET = "path", "hub id", "asset name"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_PATH_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")
_SNAPSHOT = re.compile(r"models--(.+?)--(.+?)[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)")

#: Licences of the models videocap names by default, as their model cards give them.
LICENCES = {
    "nvidia/dam-3b": "NVIDIA Noncommercial License (weights)",
    "nvidia/dam-3b-video": "NVIDIA Noncommercial License (weights)",
    "nvidia/dam-3b-self-contained": "NVIDIA Noncommercial License (weights)",
    "facebook/sam3": "SAM License (Meta; gated on the Hugging Face hub)",
    **{f"facebook/sam2.1-hiera-{size}": "Apache-2.0" for size in ("tiny", "small", "base-plus", "large")},
}
ULTRALYTICS_LICENCE = "AGPL-3.0 (Ultralytics YOLO; an Enterprise License is sold for closed use)"
DEMO_DAM_LICENCE = "Apache-2.0 (videocap's bundled demo DAM, trained by videocap on generated shape videos)"
DEMO_YOLO_LICENCE = ("AGPL-3.0 (videocap's bundled demo YOLO-seg, an Ultralytics model trained on generated "
                     "shape videos)")


@dataclass(frozen=True)
class ModelRef:
    """What a model reference names: ``kind`` is PATH, HUB or ASSET; ``path`` is set for PATH."""

    text: str
    kind: str
    path: Path | None = None


def classify(value: str | os.PathLike, base: Path | None = None) -> ModelRef:
    """Apply the rule of this module; relative paths resolve against ``base`` (default: the current folder)."""
    text = str(value).strip()
    if not text:
        raise UserError("empty model reference: give a path, a hub id (org/name) or an ultralytics name")
    expanded = Path(text).expanduser()
    local = expanded if expanded.is_absolute() or base is None else base / expanded
    if local.exists() or text.startswith(_PATH_PREFIXES) or expanded.is_absolute():
        return ModelRef(text, PATH, local.resolve())
    if _HUB_ID.match(text.replace("\\", "/")) and Path(text).suffix not in (".pt", ".pth", ".onnx"):
        return ModelRef(text, HUB)
    if len(Path(text).parts) == 1:
        return ModelRef(text, ASSET)
    return ModelRef(text, PATH, local.resolve())


def config_value(value: str, folder: Path) -> str:
    """A config's model value as the rest of videocap takes it: paths made absolute, names and ids as they are."""
    ref = classify(value, base=folder)
    return str(ref.path) if ref.kind == PATH else ref.text


# -- the Hugging Face hub --

def hub_download_hint(repo_id: str, flag: str) -> str:
    return (f"run `hf download {repo_id}` where there is internet and copy the cache folder ({hub_cache_dir()}) "
            f"here, or `hf download {repo_id} --local-dir DIR` and pass {flag} DIR")


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_snapshot(repo_id: str, allow_patterns: list[str], what: str, flag: str) -> Path:
    """The snapshot folder of ``repo_id`` in the Hugging Face cache, downloaded first when it is not there.

    The cache is tried first, without a request; the hub is asked only when the files are missing and
    it is not offline (``HF_HUB_OFFLINE=1``). Errors name the id and the download command.
    """
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=allow_patterns))
    except Exception:  # noqa: BLE001 - not (completely) cached: whatever the reason, ask the hub
        pass
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"{what} {repo_id} is not in the Hugging Face cache and the hub is offline (HF_HUB_OFFLINE "
                        f"is set): {hub_download_hint(repo_id, flag)}")
    print(f"videocap: downloading {what} {repo_id} from {constants.ENDPOINT} into {hub_cache_dir()} "
          "(once; later runs use the cache)", file=sys.stderr)
    from huggingface_hub.errors import GatedRepoError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=allow_patterns))
    except GatedRepoError:
        raise UserError(f"{what} {repo_id} is gated: accept its licence on huggingface.co/{repo_id}, log in with "
                        f"`hf auth login`, then run again; or {hub_download_hint(repo_id, flag)}") from None
    except Exception as exc:  # noqa: BLE001 - every other failure has the same remedy
        reason = " ".join(str(exc).split())
        raise UserError(f"cannot download {what} {repo_id} from {constants.ENDPOINT} ({type(exc).__name__}: "
                        f"{reason}): {hub_download_hint(repo_id, flag)}") from exc


# -- ultralytics assets --

def asset_places() -> list[Path]:
    """Where ultralytics looks for a bare weights name: the current folder, then its weights folder."""
    from ultralytics.utils import SETTINGS

    return [Path.cwd(), Path(SETTINGS["weights_dir"])]


def find_asset(name: str) -> Path | None:
    for folder in asset_places():
        if (folder / name).is_file():
            return folder / name
    return None


def asset_offline() -> bool:
    """True when the user has said not to download (ultralytics' YOLO_OFFLINE, or HF_HUB_OFFLINE)."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("YOLO_OFFLINE", "HF_HUB_OFFLINE"))


def asset_hint(name: str) -> str:
    places = " or ".join(str(p) for p in asset_places())
    return (f"download https://github.com/ultralytics/assets/releases/latest/download/{name} where there is internet "
            f"and put it in {places}, or pass --model /path/to/{name}")


def unavailable(reference: str, what: str, flag: str) -> str | None:
    """Why ``reference`` cannot be had and what to do, when it is not on this machine and downloads are off
    (None when it is here or may be downloaded)."""
    ref = classify(reference)
    if ref.kind == HUB:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE and local_model_path(reference) is None:
            return (f"{what} {reference} is not in the Hugging Face cache and the hub is offline (HF_HUB_OFFLINE is "
                    f"set): {hub_download_hint(reference, flag)}")
    elif ref.kind == ASSET and asset_offline() and find_asset(ref.text) is None:
        return (f"{what} {reference} is not here and downloads are off (YOLO_OFFLINE/HF_HUB_OFFLINE): "
                f"{asset_hint(ref.text)}")
    return None


def check_models_here(models: list[tuple[str, str, str]]) -> None:
    """One line naming every model of ``models`` ((reference, what, flag) each) that is not on this machine
    and cannot be downloaded, before any of them loads."""
    missing = [why for why in (unavailable(*model) for model in models if model[0]) if why]
    if missing:
        raise UserError(("; and " if len(missing) > 1 else "").join(missing))


# -- what captions.json records --

def model_record(reference: str | None, resolved: str | Path | None = None) -> dict:
    """Name, revision (hub commit, or sha256 of the file(s)) and licence of a model, as far as known."""
    if reference is None:
        return {"name": None, "revision": None, "licence": None}
    local = Path(resolved) if resolved is not None else None
    revision = None
    if local is not None and local.exists():
        match = _SNAPSHOT.search(str(local))
        revision = match.group(3) if match else _local_dir_commit(local) or "sha256:" + content_sha256(local)
    return {"name": str(reference), "path": None if local is None else str(local), "revision": revision,
            "licence": licence_of(str(reference), local)}


def provenance(reference: str | None) -> dict:
    """``model_record`` of a reference as found on this machine (what captions.json records per model)."""
    return model_record(reference, local_model_path(reference) if reference else None)


def local_model_path(reference: str, hub: bool = True) -> Path | None:
    """The file or folder a reference names, when it is on this machine (hub ids: in the cache only)."""
    ref = classify(reference)
    if ref.kind == PATH:
        return ref.path if ref.path.exists() else None
    if ref.kind == ASSET:
        return find_asset(ref.text)
    if not hub:
        return None
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref.text, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached
        return None


def _local_dir_commit(folder: Path) -> str | None:
    """The commit a ``huggingface-cli download --local-dir`` folder was taken at (its download metadata)."""
    metadata = sorted((folder / ".cache" / "huggingface" / "download").rglob("*.metadata")) if folder.is_dir() else []
    try:
        first = metadata[0].read_text(encoding="utf-8").splitlines()[0].strip() if metadata else ""
    except (OSError, IndexError):
        return None
    return first if re.fullmatch(r"[0-9a-f]{40}", first) else None


def licence_of(reference: str, local: Path | None = None) -> str | None:
    if local is not None and _inside(local, DATA_DIR):
        return DEMO_YOLO_LICENCE if local.suffix == ".pt" else DEMO_DAM_LICENCE
    name = reference.strip().lower()
    if name in LICENCES:
        return LICENCES[name]
    match = _SNAPSHOT.search(str(local or ""))
    if match and f"{match.group(1)}/{match.group(2)}".lower() in LICENCES:
        return LICENCES[f"{match.group(1)}/{match.group(2)}".lower()]
    if re.match(r"^yolo(v\d+|\d+)[a-z]?[-\w]*\.pt$", Path(name).name):
        return ULTRALYTICS_LICENCE
    return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def content_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in name order); remembered for
    this process by the files' names, sizes and modification times, so a batch hashes a model folder once."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    signature = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _hashed(str(path), path.is_dir(), signature)


@functools.lru_cache(maxsize=64)
def _hashed(path: str, is_dir: bool, signature: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in signature:
        if is_dir:
            digest.update(Path(name).relative_to(path).as_posix().encode() + b"\0")
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# -- size against memory --

@dataclass(frozen=True)
class WeightsSize:
    parameters: int

    def loaded_bytes(self, dtype_bytes: int) -> int:
        return self.parameters * dtype_bytes


def safetensors_size(root: Path) -> WeightsSize:
    """The parameter count of every ``*.safetensors`` under ``root``, from the files' headers only."""
    import json
    import struct

    parameters = 0
    for f in sorted(root.rglob("*.safetensors")):
        try:
            with open(f, "rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
        except (OSError, ValueError, struct.error):
            continue  # the loader names unreadable files itself
        for key, info in header.items():
            if key != "__metadata__":
                parameters += math.prod(int(n) for n in info.get("shape", []))
    return WeightsSize(parameters)


def free_memory(device: str) -> tuple[int, int] | None:
    """(free, total) bytes of a CUDA device, or of the machine's RAM for the CPU; None when unknown."""
    try:
        if device.startswith("cuda"):
            import torch

            return tuple(torch.cuda.mem_get_info(torch.device(device)))  # type: ignore[return-value]
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.available), int(memory.total)
    except Exception:  # noqa: BLE001 - no CUDA driver, no psutil: nothing to compare with
        return None


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


#: Parameters above which a CPU run is slow enough to say so before it starts.
SLOW_ON_CPU_PARAMETERS = 1_000_000_000
#: A desktop's memory bandwidth, bytes/s: each generated token reads every weight once.
CPU_BANDWIDTH = 20e9


def memory_notes(name: str, root: Path, device: str, dtype: str, dtype_bytes: int) -> list[str]:
    """What loading the model at ``root`` on ``device`` needs, checked against free memory.

    Raises ``UserError`` when a GPU has too little free memory; returns lines to show the user first
    (low RAM, or how slow a model of billions of parameters will be on the CPU).
    """
    size = safetensors_size(root)
    need = int(size.loaded_bytes(dtype_bytes) * 1.15)  # the weights, plus activations and the KV cache
    memory = free_memory(device)
    notes = []
    where = "GPU memory" if device.startswith("cuda") else "RAM"
    if memory is not None and memory[0] < need:
        message = (f"{name} needs about {gb(need)} of {where} in {dtype} ({size.parameters / 1e9:.2f} billion "
                   f"parameters) and {device} has {gb(memory[0])} free of {gb(memory[1])}")
        if device.startswith("cuda"):
            raise UserError(f"{message}: free GPU memory, use a larger GPU, or --device cpu")
        notes.append(f"warning: {message}: it may swap or be stopped; close other programs"
                     + (" or use --dtype bfloat16 (half the memory)" if dtype_bytes > 2 else ""))
    if not device.startswith("cuda") and size.parameters >= SLOW_ON_CPU_PARAMETERS:
        per_token = size.loaded_bytes(dtype_bytes) / CPU_BANDWIDTH
        notes.append(f"note: {name} has {size.parameters / 1e9:.1f} billion parameters and runs on the CPU "
                     f"({dtype}, {gb(size.loaded_bytes(dtype_bytes))}): expect roughly {per_token:.1f} s or more per "
                     f"caption token, minutes per caption; a CUDA GPU takes seconds")
    return notes
