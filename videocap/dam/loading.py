"""Finding, checking and reading a DAM checkpoint in the official layout (spec §1).

Everything is checked before any weight is read: the folders and files, each JSON config, each
safetensors header (a truncated or corrupt file fails here), and every tensor's shape against the shape
its config implies. Problems raise ``DamLoadError`` naming the folder or file at fault.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import transformers
from safetensors import safe_open
from transformers import LlamaConfig, PreTrainedModel, SiglipVisionConfig

from videocap import checkpoints
from videocap.dam.config import (
    PROMPT_STYLES,
    ContextProviderConfig,
    DamConfig,
    PreprocessConfig,
    read_top_level,
)
from videocap.dam.tokenizer import DamTokenizer
from videocap.errors import UserError

PARTS = ("llm", "vision_tower", "mm_projector", "context_provider")
HUB_PATTERNS = ["config.json", "*/config.json", "*/*.safetensors", "*/model.safetensors.index.json",
                "llm/generation_config.json", "llm/tokenizer.model", "llm/tokenizer_config.json",
                "llm/special_tokens_map.json", "vision_tower/preprocessor_config.json"]

Shapes = dict[str, tuple[int, ...]]
M = TypeVar("M", bound=PreTrainedModel)


class DamLoadError(UserError):
    """A DAM checkpoint that cannot be used; the message names the folder or file at fault."""


def resolve(path_or_id: str | Path) -> tuple[Path, str]:
    """The checkpoint folder for a local path or a hub id, and the name that tells its prompt style.

    The reference follows ``videocap.checkpoints``' rule: a path when it exists or is written as one, a hub
    id (``org/name``) otherwise, looked up in (or downloaded into) the Hugging Face cache.
    """
    ref = checkpoints.classify(path_or_id)
    if ref.kind == checkpoints.HUB:
        try:
            return checkpoints.hub_snapshot(ref.text, HUB_PATTERNS, "DAM checkpoint", "--dam"), ref.text
        except UserError as exc:
            raise DamLoadError(str(exc)) from exc.__cause__
    if ref.kind == checkpoints.ASSET or not ref.path.exists():
        path = ref.path or Path(ref.text)
        raise DamLoadError(f"DAM checkpoint folder not found: {path} (give a checkpoint folder, or a hub id "
                           "such as nvidia/DAM-3B-Video or nvidia/DAM-3B)")
    if not ref.path.is_dir():
        raise DamLoadError(f"{ref.path} is a file: give the DAM checkpoint folder (the one holding config.json, "
                           "llm/, vision_tower/, mm_projector/ and context_provider/)")
    return ref.path, ref.path.name


@dataclass(frozen=True)
class DamCheckpoint:
    """A DAM checkpoint found and its configs read, once per run: what the availability checks, the loading
    and captions.json's provenance record all take."""

    reference: str  # as the user gave it (a folder or a hub id)
    root: Path  # the folder holding config.json, llm/, vision_tower/, mm_projector/, context_provider/
    config: DamConfig
    tokenizer: DamTokenizer


def open_checkpoint(path_or_id: str | Path | DamCheckpoint, prompt_style: str | None = None) -> DamCheckpoint:
    """The checkpoint ``path_or_id`` names, its configs and tokenizer read and checked (no weights read);
    one given already is returned as it is, or with its configs read again for another ``prompt_style``."""
    if isinstance(path_or_id, DamCheckpoint):
        if prompt_style is None or prompt_style == path_or_id.config.prompt_style:
            return path_or_id
        path_or_id = path_or_id.reference
    root, name = resolve(path_or_id)
    config = read_config(root, name, prompt_style)
    tokenizer = read_tokenizer(root)
    if len(tokenizer) > config.llm.vocab_size:
        raise DamLoadError(f"{root / 'llm' / 'tokenizer.model'} has {len(tokenizer)} pieces but the LLM's "
                           f"vocab_size is {config.llm.vocab_size}")
    return DamCheckpoint(str(path_or_id), root, config, tokenizer)


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DamLoadError(f"{path} is missing (a DAM checkpoint holds config.json, llm/, vision_tower/, "
                           "mm_projector/ and context_provider/)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DamLoadError(f"{path} must hold a JSON object")
    return data


def guess_prompt_style(name: str) -> str:
    """DAM-3B-Video (the joint image+video checkpoint) when the name says video, else DAM-3B."""
    return "dam-3b-video" if "video" in name.lower() else "dam-3b"


def read_config(root: Path, name: str, prompt_style: str | None = None) -> DamConfig:
    """The checkpoint's configuration from its five config files (the subfolders' own files count)."""
    for part in PARTS:
        if not (root / part).is_dir():
            raise DamLoadError(f"{root / part}/ is missing: {root} is not a DAM checkpoint in the official layout "
                               f"(config.json, {', '.join(p + '/' for p in PARTS)})")
    if prompt_style is not None and prompt_style not in PROMPT_STYLES:
        raise DamLoadError(f"unknown prompt style {prompt_style!r}: use one of {', '.join(PROMPT_STYLES)}")
    top_path = root / "config.json"
    top = read_json(top_path)
    if top.get("model_type") != "llava_llama":
        raise DamLoadError(f"{top_path}: model_type {top.get('model_type')!r}, not a DAM checkpoint's 'llava_llama' "
                           "(the file is damaged or from another model)")
    with _blame(top_path):
        select_layer, aspect = read_top_level(top)
    # Checkpoints written by videocap record their prompt style; NVIDIA's say it only in their name.
    saved_style = top.get("prompt_style") if top.get("prompt_style") in PROMPT_STYLES else None
    llm_path = root / "llm" / "config.json"
    llm_dict = read_json(llm_path)
    with _blame(llm_path):
        if llm_dict.get("model_type") != "llama":
            raise ValueError(f"model_type {llm_dict.get('model_type')!r} is not supported (DAM's LLM is 'llama')")
        llm = LlamaConfig.from_dict(llm_dict)
    vision_path = root / "vision_tower" / "config.json"
    vision_dict = read_json(vision_path)
    with _blame(vision_path):
        if vision_dict.get("model_type") != "siglip_vision_model":
            raise ValueError(f"model_type {vision_dict.get('model_type')!r} is not supported "
                             "(DAM's tower is 'siglip_vision_model')")
        vision = SiglipVisionConfig.from_dict(vision_dict)
    projector_path = root / "mm_projector" / "config.json"
    kind = read_json(projector_path).get("mm_projector_type", "mlp_downsample")
    if kind != "mlp_downsample":
        raise DamLoadError(f"{projector_path}: projector type {kind!r} is not supported (only mlp_downsample)")
    context_path = root / "context_provider" / "config.json"
    with _blame(context_path):
        context = ContextProviderConfig.from_dict(read_json(context_path))
    pre_path = root / "vision_tower" / "preprocessor_config.json"
    with _blame(pre_path):
        preprocess = PreprocessConfig.from_dict(read_json(pre_path), aspect)
    eos_ids, top_k = _generation(root / "llm", llm)
    config = DamConfig(llm=llm, vision=vision, context=context, preprocess=preprocess, select_layer=select_layer,
                       eos_token_ids=eos_ids, max_length=llm_dict.get("tokenizer_model_max_length"),
                       prompt_style=prompt_style or saved_style or guess_prompt_style(name), top_k=top_k)
    with _blame(root):
        config.validate()
    return config


def _generation(llm_dir: Path, llm: LlamaConfig) -> tuple[tuple[int, ...], int]:
    """(EOS ids, top-k) from ``generation_config.json``, with the LLM config and transformers' defaults."""
    gen_path = llm_dir / "generation_config.json"
    gen = read_json(gen_path) if gen_path.exists() else {}
    eos = gen.get("eos_token_id", llm.eos_token_id)
    if eos is None:
        raise DamLoadError(f"neither {gen_path} nor {llm_dir / 'config.json'} gives an eos_token_id")
    top_k = gen.get("top_k", 50)  # transformers' default when the file does not set one; None or 0 = off
    return tuple(eos) if isinstance(eos, list) else (int(eos),), int(top_k or 0)


def read_tokenizer(root: Path) -> DamTokenizer:
    llm_dir = root / "llm"
    model = llm_dir / "tokenizer.model"
    if not model.is_file():
        raise DamLoadError(f"{model} is missing: DAM needs the LLM's SentencePiece tokenizer there")
    config_path = llm_dir / "tokenizer_config.json"
    config = read_json(config_path) if config_path.exists() else {}
    try:
        return DamTokenizer(model.read_bytes(), add_bos=bool(config.get("add_bos_token", True)),
                            add_prefix_space=config.get("add_prefix_space", True) is not False)
    except Exception as exc:  # sentencepiece and protobuf raise assorted types
        raise DamLoadError(f"cannot read {model}: {exc}") from exc


def weight_files(folder: Path) -> list[Path]:
    """The safetensors file(s) of one part: ``model.safetensors`` or the shards its index lists."""
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.is_file():
        return [single]
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise DamLoadError(f"{index} has no weight_map")
        files = [folder / name for name in sorted(set(weight_map.values()))]
        for f in files:
            if not f.is_file():
                raise DamLoadError(f"{f} is missing (listed in {index.name})")
        return files
    pickles = sorted(p.name for p in folder.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    if pickles:
        raise DamLoadError(f"{folder} holds only {pickles[0]}: videocap loads safetensors weights only "
                           "(model.safetensors or model.safetensors.index.json)")
    raise DamLoadError(f"{single} is missing (nor is there a model.safetensors.index.json)")


def check_weights(folder: Path, expected: Shapes, optional: tuple[str, ...] = ()) -> list[Path]:
    """Check every expected tensor is in the folder's safetensors with its expected shape; return the files.

    Keys starting with one of ``optional`` may be absent (they are loaded when present but never used).
    """
    files = weight_files(folder)
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for f in files:
        try:
            with safe_open(f, framework="pt") as st:
                for key in st.keys():  # noqa: SIM118 - safe_open is not iterable
                    found[key] = (tuple(st.get_slice(key).get_shape()), f)
        except Exception as exc:  # safetensors raises its own error types
            raise DamLoadError(f"{f} is not a readable safetensors file (truncated or corrupt?): {exc}") from exc
    for key, shape in expected.items():
        if key not in found:
            if key.startswith(optional):
                continue
            raise DamLoadError(f"{folder}: tensor {key!r} is missing from {', '.join(f.name for f in files)}")
        if found[key][0] != shape:
            raise DamLoadError(f"{found[key][1]}: tensor {key!r} has shape {list(found[key][0])} but "
                               f"{folder / 'config.json'} implies {list(shape)}")
    return files


def read_tensors(files: list[Path], prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, with the prefix removed."""
    tensors = {}
    for f in files:
        with safe_open(f, framework="pt") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open is not iterable
                if key.startswith(prefix):
                    tensors[key[len(prefix):]] = st.get_tensor(key)
    return tensors


def load_hf_model(cls: type[M], folder: Path, config: Any, device: torch.device, dtype: torch.dtype) -> M:
    """A transformers model from an already checked folder, with SDPA attention, quietly.

    It is read on the CPU and then moved: a ``device_map`` would need the ``accelerate`` package.
    """
    with _quiet_transformers():
        model = cls.from_pretrained(folder, config=config, dtype=dtype, attn_implementation="sdpa",
                                    use_safetensors=True, local_files_only=True)
    return model.to(device).eval()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence the load report (the tower file also holds DAM's mask conv) and the progress bars."""
    logging = transformers.utils.logging
    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


@contextlib.contextmanager
def _blame(path: Path) -> Iterator[None]:
    """Turn a configuration error into a DamLoadError that names ``path``."""
    try:
        yield
    except DamLoadError:
        raise
    except Exception as exc:  # config classes raise assorted validation errors
        message = " ".join(str(exc).split())
        raise DamLoadError(f"{path}: {message}") from exc
