"""Writing a DAM checkpoint in the official on-disk layout (spec §1), so ``DamModel.from_pretrained`` and
NVIDIA's loader read what videocap's training wrote.

    <out>/config.json                      top level (llava_llama) with the nested sub-configs
    <out>/llm/                             config.json, generation_config.json, model.safetensors, tokenizer files
    <out>/vision_tower/                    config.json, preprocessor_config.json, model.safetensors (+ mask conv)
    <out>/mm_projector/                    config.json, model.safetensors
    <out>/context_provider/                config.json, model.safetensors

The folder is written next to its destination and renamed into place when complete, with the marker file
``videocap-checkpoint.json`` that lets a later run replace it (``videocap.dam.outdir``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from videocap.dam.config import OWN_PARTS, TOWER_PREFIX
from videocap.dam.model import DamModel
from videocap.dam.outdir import check_out_dir, replace_dir

SPECIAL_TOKEN = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    save_file({k: v.detach().to("cpu", dtype).contiguous() for k, v in tensors.items()}, str(path),
              metadata={"format": "pt"})


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in module.state_dict().items()}


def _configs(model: DamModel) -> dict[str, dict[str, Any]]:
    cfg = model.config
    llm = cfg.llm.to_dict() | {"architectures": ["LlamaForCausalLM"], "tokenizer_model_max_length": cfg.max_length,
                               "tokenizer_padding_side": "right"}
    vision = cfg.vision.to_dict() | {"architectures": ["SiglipVisionModel"], "num_mask_channels": cfg.num_mask_channels}
    c = cfg.context
    context = {
        "architectures": ["ContextProvider"], "model_type": "context_provider",
        "context_provider_type": "cross_attn_end_to_all", "context_provider_layer_indices": None,
        "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "patch_size": c.patch_size, "image_size": cfg.vision.image_size, "num_channels": 3,
        "num_mask_channels": cfg.num_mask_channels, "hidden_act": c.hidden_act, "layer_norm_eps": c.layer_norm_eps,
        "zero_init_output": c.zero_init_output, "masked_cross_attn": c.masked_cross_attn,
        "context_image_as_queries": c.context_image_as_queries, "treat_image_as_cimage": c.treat_image_as_cimage,
        "attention_dropout": 0.0, "residual_dropout": 0.0,
    }
    projector = {"architectures": ["MultimodalProjector"], "model_type": "v2l_projector",
                 "mm_projector_type": "mlp_downsample"}
    return {"llm": llm, "vision_tower": vision, "context_provider": context, "mm_projector": projector}


def save_pretrained(model: DamModel, out_dir: str | Path, tokenizer_model: bytes,
                    dtype: torch.dtype = torch.float32) -> Path:
    """Write ``model`` (with the SentencePiece ``tokenizer_model`` bytes) to ``out_dir``: a new or empty folder,
    or a videocap checkpoint, which it replaces (anything else is a ``UserError``, see ``outdir``)."""
    out = check_out_dir(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a checkpoint gets the usual permissions
        _write(model, tmp, tokenizer_model, dtype)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(model: DamModel, root: Path, tokenizer_model: bytes, dtype: torch.dtype) -> None:
    cfg, configs = model.config, _configs(model)
    p = cfg.preprocess
    top = {
        "architectures": ["LlavaLlamaModel"], "model_type": "llava_llama",
        "llm_cfg": configs["llm"], "vision_tower_cfg": configs["vision_tower"],
        "mm_projector_cfg": configs["mm_projector"], "context_provider_cfg": configs["context_provider"],
        "mask_encoder_cfg": None, "hidden_size": cfg.llm.hidden_size, "mm_hidden_size": cfg.vision.hidden_size,
        "mm_vision_select_layer": cfg.select_layer, "mm_vision_select_feature": "cls_patch",
        "image_aspect_ratio": p.aspect_ratio, "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
        "num_video_frames": 8, "model_dtype": str(dtype),
        "prompt_style": model.prompt_style,  # read back by videocap (NVIDIA's loader ignores it)
    }
    for part in configs:
        (root / part).mkdir()
    _write_json(root / "config.json", top)
    for part, data in configs.items():
        _write_json(root / part / "config.json", data)

    llm_dir = root / "llm"
    eos = cfg.eos_token_ids[0] if len(cfg.eos_token_ids) == 1 else list(cfg.eos_token_ids)
    _write_json(llm_dir / "generation_config.json", {"bos_token_id": model.tokenizer.bos_id, "eos_token_id": eos,
                                                     "pad_token_id": cfg.llm.pad_token_id})
    (llm_dir / "tokenizer.model").write_bytes(tokenizer_model)
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    _write_json(llm_dir / "special_tokens_map.json", {k: {"content": v, **SPECIAL_TOKEN} for k, v in specials.items()})
    _write_json(llm_dir / "tokenizer_config.json", {
        **specials, "add_bos_token": model.tokenizer.add_bos, "add_eos_token": False,
        "add_prefix_space": model.tokenizer.add_prefix_space, "legacy": False, "pad_token": None,
        "padding_side": "right", "tokenizer_class": "LlamaTokenizer", "clean_up_tokenization_spaces": False,
        "spaces_between_special_tokens": False, "sp_model_kwargs": {}, "use_default_system_prompt": False,
    })
    _save_tensors(llm_dir / "model.safetensors", model.llm.state_dict(), dtype)

    vision = model.vision
    _write_json(root / "vision_tower" / "preprocessor_config.json", {
        "image_processor_type": "SiglipImageProcessor", "do_convert_rgb": True, "do_normalize": True,
        "do_rescale": True, "do_resize": True, "image_mean": list(p.image_mean), "image_std": list(p.image_std),
        "resample": p.resample, "rescale_factor": p.rescale_factor, "size": {"height": p.height, "width": p.width},
    })
    tensors = {"vision_tower": _prefixed(TOWER_PREFIX, vision.tower)}
    for attr, (folder, prefix) in OWN_PARTS.items():
        module = getattr(vision, attr)
        if module is not None:
            tensors[folder] = tensors.get(folder, {}) | _prefixed(prefix, module)
    for folder, part in tensors.items():
        _save_tensors(root / folder / "model.safetensors", part, dtype)
