"""DAM's vision side: the mask-aware SigLIP tower over the full view, the gated cross-attention blocks (the
context provider) that let the focal view read it, and the projector (2x2 merge + MLP) into the LLM's width."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import SiglipVisionModel
from transformers.activations import ACT2FN

from videocap.dam.config import ContextProviderConfig, DamConfig
from videocap.dam.preprocess import normalize


class CrossAttention(nn.Module):
    """Multi-head attention from the focal stream (queries) to the full-image features (keys, values)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        n, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(n, -1, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(context)), split(self.v_proj(context))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.out_proj(y.transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), ACT2FN[act], nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class CrossBlock(nn.Module):
    """Pre-LN cross-attention + MLP on the focal stream, each gated by a learned raw scalar (no tanh)."""

    def __init__(self, cfg: ContextProviderConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.layer_norm1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.cross_attn = CrossAttention(d, cfg.num_attention_heads)
        self.layer_norm2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(d, cfg.intermediate_size, cfg.hidden_act)
        # Without zero_init_output the gates are the constant 1 and are not in the checkpoint.
        self.attn_factor = nn.Parameter(torch.zeros(1)) if cfg.zero_init_output else None
        self.mlp_factor = nn.Parameter(torch.zeros(1)) if cfg.zero_init_output else None

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        y = self.cross_attn(self.layer_norm1(x), context, key_mask)  # keys/values are the raw context
        x = x + (y if self.attn_factor is None else self.attn_factor * y)
        y = self.mlp(self.layer_norm2(x))
        return x + (y if self.mlp_factor is None else self.mlp_factor * y)


class ContextProvider(nn.Module):
    """One CrossBlock after every tower layer (``cross_attn_end_to_all``)."""

    def __init__(self, cfg: ContextProviderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CrossBlock(cfg) for _ in range(cfg.num_hidden_layers))


class Merge2x2(nn.Module):
    """``[N, s*s, C] -> [N, ceil(s/2)^2, 4C]``: zero-pad an odd grid, then merge 2x2 blocks.

    Merged tokens come out column-pair-major (transposed against the SigLIP grid), channels in row-major
    block order, exactly as the reference's downsample.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        s = math.isqrt(t)
        x = x.view(n, s, s, c)
        if s % 2:
            x = F.pad(x, (0, 0, 0, 1, 0, 1))
            s += 1
        h = s // 2
        return x.view(n, h, 2, h, 2, c).permute(0, 3, 1, 2, 4, 5).reshape(n, h * h, 4 * c)


class Projector(nn.Module):
    """``mlp_downsample``: 2x2 merge, LayerNorm, Linear, GELU, Linear (state-dict indices 1, 2, 4)."""

    def __init__(self, vision_dim: int, llm_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(Merge2x2(), nn.LayerNorm(4 * vision_dim), nn.Linear(4 * vision_dim, llm_dim),
                                    nn.GELU(), nn.Linear(llm_dim, llm_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class VisionEncoder(nn.Module):
    """uint8 cimages ``[N, 8, S, S]`` -> visual tokens ``[N, T', D]`` for the LLM (spec §2-§4)."""

    def __init__(self, config: DamConfig, tower: SiglipVisionModel) -> None:
        super().__init__()
        self.config = config
        self.tower = tower
        width, patch = config.vision.hidden_size, config.vision.patch_size
        self.mask_patch_embedding = nn.Conv2d(1, width, patch, stride=patch) if config.num_mask_channels else None
        self.context_provider = ContextProvider(config.context)
        self.projector = Projector(width, config.llm.hidden_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        ctx = self.config.context
        n, _, height, width = pixels.shape
        # A focal view identical to the full view (the crop is the whole frame) skips the context provider.
        is_cimage = (pixels[:, :4] != pixels[:, 4:]).flatten(1).any(1)
        if ctx.treat_image_as_cimage:
            is_cimage[:] = True
        x = normalize(pixels, self.config.preprocess).to(self.tower.dtype)
        # Both views of every frame in one convolution: [N, 8, S, S] is [2N, 4, S, S] in memory.
        views = self.embed(x.view(2 * n, 4, height, width)).unflatten(0, (n, 2))
        context_view, query_view = (1, 0) if ctx.context_image_as_queries else (0, 1)
        features = self.encode(views[:, context_view])
        idx = is_cimage.nonzero()[:, 0]
        if idx.numel():
            key_mask = self.key_mask(pixels[idx, 3]) if ctx.masked_cross_attn else None
            focal = self.encode(views[idx, query_view], context=features[idx], key_mask=key_mask)
            features = features.index_copy(0, idx, focal)
        return self.projector(features)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embedding of RGB plus the mask channel's own conv (and bias), plus positions.

        The two convolutions are summed as one 4-channel convolution (same result up to rounding).
        """
        emb = self.tower.embeddings
        weight, bias = emb.patch_embedding.weight, emb.patch_embedding.bias
        if self.mask_patch_embedding is not None:
            weight = torch.cat([weight, self.mask_patch_embedding.weight], dim=1)
            bias = bias + self.mask_patch_embedding.bias
        else:
            x = x[:, :3]
        e = F.conv2d(x, weight, bias, stride=emb.patch_embedding.stride)
        return e.flatten(2).transpose(1, 2) + emb.position_embedding.weight

    def encode(self, h: torch.Tensor, context: torch.Tensor | None = None,
               key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The selected hidden state of the tower from embeddings ``h``; with ``context``, each layer is
        followed by its CrossBlock."""
        blocks = self.context_provider.layers
        for i, layer in enumerate(self.tower.encoder.layers[:self.config.layers_to_run]):
            h = layer(h, attention_mask=None)
            if context is not None:
                h = blocks[i](h, context, key_mask)
        return h

    def key_mask(self, full_masks: torch.Tensor) -> torch.Tensor:
        """``[n, 1, 1, T]``: which full-image patches overlap the (resized) mask, for ``masked_cross_attn``."""
        g, p = self.config.grid, self.config.vision.patch_size
        n = full_masks.shape[0]
        inside = (full_masks[:, :g * p, :g * p] > 0).view(n, g, p, g, p).any(4).any(2).flatten(1)
        # The reference yields NaN when no patch overlaps (a mask lost in resizing): attend everywhere instead.
        inside[~inside.any(1)] = True
        return inside[:, None, None, :]
