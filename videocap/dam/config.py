"""DAM's configuration, read from the checkpoint's own files (spec §1.2-§1.6, §13).

Nothing about the real DAM-3B sizes lives here: every size comes from a file, and this module only
checks that the pieces fit together and that the checkpoint uses the variants the reference supports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from transformers import LlamaConfig, SiglipVisionConfig

PROMPT_STYLES = ("dam-3b", "dam-3b-video")

# -- the checkpoint's weight files (spec §1): where each part's tensors sit, for loading and saving alike --

TOWER_PREFIX = "vision_model."  # the SigLIP tower's keys in vision_tower/model.safetensors
TOWER_UNUSED = (TOWER_PREFIX + "head.", TOWER_PREFIX + "post_layernorm.")  # may be present; DAM never runs them
# videocap's own modules (attributes of the VisionEncoder): the checkpoint folder and key prefix of each.
OWN_PARTS: dict[str, tuple[str, str]] = {
    "mask_patch_embedding": ("vision_tower", TOWER_PREFIX + "embeddings.mask_patch_embedding."),
    "context_provider": ("context_provider", "context_provider_module."),
    "projector": ("mm_projector", ""),
}


@dataclass(frozen=True)
class ContextProviderConfig:
    """``context_provider/config.json``: the gated cross-attention blocks that follow each SigLIP layer."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    patch_size: int
    hidden_act: str
    layer_norm_eps: float
    zero_init_output: bool
    masked_cross_attn: bool
    context_image_as_queries: bool
    treat_image_as_cimage: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContextProviderConfig:
        kind = d.get("context_provider_type", "cross_attn_end_to_all")
        if kind != "cross_attn_end_to_all":
            raise ValueError(f"context_provider_type {kind!r} is not supported (only 'cross_attn_end_to_all')")
        if d.get("context_provider_layer_indices") is not None:
            raise ValueError("context_provider_layer_indices must be null (the reference builds no blocks otherwise)")
        cfg = cls(
            hidden_size=int(d.get("hidden_size", 768)),
            intermediate_size=int(d.get("intermediate_size", 3072)),
            num_hidden_layers=int(d.get("num_hidden_layers", 12)),
            num_attention_heads=int(d.get("num_attention_heads", 12)),
            patch_size=int(d.get("patch_size", 16)),
            hidden_act=str(d.get("hidden_act", "gelu_pytorch_tanh")),
            layer_norm_eps=float(d.get("layer_norm_eps", 1e-6)),
            zero_init_output=bool(d.get("zero_init_output", True)),
            masked_cross_attn=bool(d.get("masked_cross_attn", False)),
            context_image_as_queries=bool(d.get("context_image_as_queries", False)),
            treat_image_as_cimage=bool(d.get("treat_image_as_cimage", False)),
        )
        if cfg.masked_cross_attn and cfg.context_image_as_queries:
            raise ValueError("masked_cross_attn cannot be combined with context_image_as_queries")
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError(f"hidden_size {cfg.hidden_size} is not a multiple of num_attention_heads "
                             f"{cfg.num_attention_heads}")
        return cfg


@dataclass(frozen=True)
class PreprocessConfig:
    """How a view becomes pixels: ``vision_tower/preprocessor_config.json`` plus the top config's aspect mode."""

    height: int
    width: int
    resample: int  # a PIL resampling filter; 3 = bicubic
    rescale_factor: float
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    aspect_ratio: str  # "resize" (released models) or "pad"

    @classmethod
    def from_dict(cls, d: dict[str, Any], aspect_ratio: str) -> PreprocessConfig:
        size = d.get("size", {})
        if not isinstance(size, dict) or "height" not in size or "width" not in size:
            raise ValueError(f"'size' must give height and width, got {size!r}")
        mean, std = d.get("image_mean", [0.5] * 3), d.get("image_std", [0.5] * 3)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("image_mean and image_std must have 3 values")
        return cls(height=int(size["height"]), width=int(size["width"]), resample=int(d.get("resample", 3)),
                   rescale_factor=float(d.get("rescale_factor", 1 / 255)),
                   image_mean=(float(mean[0]), float(mean[1]), float(mean[2])),
                   image_std=(float(std[0]), float(std[1]), float(std[2])),
                   # The reference treats every value but "pad" like "resize" (spec §5.4).
                   aspect_ratio="pad" if aspect_ratio == "pad" else "resize")


@dataclass(frozen=True)
class DamConfig:
    """Everything the model needs, from the five config files of a checkpoint."""

    llm: LlamaConfig
    vision: SiglipVisionConfig
    context: ContextProviderConfig
    preprocess: PreprocessConfig
    select_layer: int  # index into the tower's hidden-state list (embeddings first); -2 in DAM
    eos_token_ids: tuple[int, ...]
    max_length: int | None  # the LLM's tokenizer_model_max_length: longer multimodal prompts are cut
    prompt_style: str  # which default queries: "dam-3b" (image only) or "dam-3b-video" (image + video)
    top_k: int = 50  # sampling keeps the k likeliest tokens first: transformers' default, the reference's too

    @property
    def num_mask_channels(self) -> int:
        return int(getattr(self.vision, "num_mask_channels", 0) or 0)

    @property
    def grid(self) -> int:
        """Patches per side of the tower's square grid."""
        return self.vision.image_size // self.vision.patch_size

    @property
    def image_tokens(self) -> int:
        """Visual tokens per frame in the LLM's sequence: the patch grid after the projector's 2x2 merge."""
        return math.ceil(self.grid / 2) ** 2

    @property
    def layers_to_run(self) -> int:
        """Tower layers whose output reaches the selected hidden state (the rest are never computed)."""
        n = self.vision.num_hidden_layers
        return self.select_layer if self.select_layer >= 0 else n + 1 + self.select_layer

    def validate(self) -> None:
        """Check that the parts fit together; raises ValueError naming the config files that disagree."""
        v, c, p = self.vision, self.context, self.preprocess
        tower, ctx, pre = "vision_tower/config.json", "context_provider/config.json", "vision_tower/preprocessor_config.json"
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {self.prompt_style!r}")
        if not 0 <= self.layers_to_run <= v.num_hidden_layers:
            raise ValueError(f"config.json's mm_vision_select_layer {self.select_layer} is outside the "
                             f"{v.num_hidden_layers} layers of {tower}")
        if (p.height // v.patch_size, p.width // v.patch_size) != (self.grid, self.grid):
            raise ValueError(f"{pre} size {p.height}x{p.width} does not give the {self.grid}x{self.grid} patch grid "
                             f"of {tower} (image_size {v.image_size}, patch_size {v.patch_size})")
        if v.hidden_size % v.num_attention_heads:
            raise ValueError(f"{tower}: hidden_size {v.hidden_size} is not a multiple of num_attention_heads "
                             f"{v.num_attention_heads}")
        if self.num_mask_channels not in (0, 1):
            raise ValueError(f"{tower}: num_mask_channels must be 0 or 1, got {self.num_mask_channels}")
        if c.num_hidden_layers != v.num_hidden_layers:
            raise ValueError(f"{ctx} has {c.num_hidden_layers} blocks but {tower} has {v.num_hidden_layers} "
                             "layers; they must be equal")
        if c.hidden_size != v.hidden_size:
            raise ValueError(f"{ctx} hidden_size {c.hidden_size} differs from {tower} hidden_size {v.hidden_size}")
        if c.masked_cross_attn and c.patch_size != v.patch_size:
            raise ValueError(f"masked_cross_attn needs {ctx} patch_size ({c.patch_size}) to equal {tower} "
                             f"patch_size ({v.patch_size})")


def read_top_level(d: dict[str, Any]) -> tuple[int, str]:
    """The top ``config.json`` fields inference depends on: (select layer, image aspect ratio)."""
    if d.get("mm_vision_select_feature", "cls_patch") != "cls_patch":
        raise ValueError(f"mm_vision_select_feature {d['mm_vision_select_feature']!r} is not supported "
                         "(DAM uses 'cls_patch')")
    if d.get("mm_use_im_start_end") or d.get("mm_use_im_patch_token"):
        raise ValueError("mm_use_im_start_end / mm_use_im_patch_token are not supported (DAM uses neither)")
    if d.get("mask_encoder_cfg") is not None:
        raise ValueError("mask_encoder_cfg must be null in a DAM checkpoint")
    return int(d.get("mm_vision_select_layer", -2)), str(d.get("image_aspect_ratio", "resize"))


def synthetic_config(*, vision_width: int, vision_layers: int, vision_heads: int, vision_mlp: int, llm_width: int,
                     llm_layers: int, llm_heads: int, llm_mlp: int, vocab_size: int, image_size: int = 384,
                     patch_size: int = 14, masked_cross_attn: bool = False, max_length: int = 4096,
                     prompt_style: str = "dam-3b-video") -> DamConfig:
    """A DAM configuration of any size in the released models' shape (for random-weight tests and benchmarks)."""
    vision = SiglipVisionConfig(hidden_size=vision_width, intermediate_size=vision_mlp, num_hidden_layers=vision_layers,
                                num_attention_heads=vision_heads, image_size=image_size, patch_size=patch_size,
                                hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
    vision.num_mask_channels = 1
    llm = LlamaConfig(hidden_size=llm_width, intermediate_size=llm_mlp, num_hidden_layers=llm_layers,
                      num_attention_heads=llm_heads, num_key_value_heads=llm_heads, vocab_size=vocab_size,
                      max_position_embeddings=max_length, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2,
                      pad_token_id=0, tie_word_embeddings=False)
    context = ContextProviderConfig(hidden_size=vision_width, intermediate_size=vision_mlp,
                                    num_hidden_layers=vision_layers, num_attention_heads=vision_heads,
                                    patch_size=patch_size, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
                                    zero_init_output=True, masked_cross_attn=masked_cross_attn,
                                    context_image_as_queries=False, treat_image_as_cimage=False)
    preprocess = PreprocessConfig(height=image_size, width=image_size, resample=3, rescale_factor=1 / 255,
                                  image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), aspect_ratio="resize")
    config = DamConfig(llm=llm, vision=vision, context=context, preprocess=preprocess, select_layer=-2,
                       eos_token_ids=(2,), max_length=max_length, prompt_style=prompt_style)
    config.validate()
    return config
