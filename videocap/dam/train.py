"""Training and fine-tuning DAM: (frames, masks, caption) items -> a checkpoint in the official layout.

NVIDIA released DAM without training code. This trains any checkpoint ``DamModel.from_pretrained`` loads
(the real DAM-3B-Video on a GPU), or a new small model from an architecture file, with exactly the
inference preprocessing and prompt: the caption follows "ASSISTANT:" and ends with EOS, and the loss is
taken on the caption tokens only.

Optional auxiliary losses (``--aux-weight``) help a small model from scratch: linear heads on the mean
visual token of each frame predict the object's colour, shape, per-frame position and motion. They push
the vision side to encode what the captions need, sooner; the heads are not saved.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from videocap.dam.config import synthetic_config
from videocap.dam.datasets import EncodedSet, cached_encoding, load_examples
from videocap.dam.model import DamModel, Prepared
from videocap.dam.outdir import read_architecture
from videocap.dam.prompt import SYSTEM, make_query
from videocap.dam.saving import save_pretrained
from videocap.dam.tokenizer import DamTokenizer
from videocap.errors import UserError

STATE_FILE = "training_state.pt"


# -- new models --

def train_tokenizer(texts: Sequence[str], vocab_size: int) -> bytes:
    """A Llama-style SentencePiece model (BPE, byte fallback, <unk>/<s>/</s> = 0/1/2) for ``texts``."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        normalization_rule_name="identity", add_dummy_prefix=True, remove_extra_whitespaces=False,
        split_digits=True, max_sentence_length=4096, hard_vocab_limit=False, minloglevel=2,
    )
    return model.getvalue()


def new_model(arch: dict, texts: Sequence[str], device: str | torch.device = "cpu",
              seed: int = 0) -> tuple[DamModel, bytes]:
    """A randomly initialised DAM of the architecture ``arch`` with a tokenizer trained on ``texts``.

    ``arch`` keys: vocab_size, image_size, patch_size, vision_width, vision_layers, vision_heads, vision_mlp,
    llm_width, llm_layers, llm_heads, llm_mlp, masked_cross_attn (optional), max_length (optional).
    """
    arch = dict(arch)
    vocab = int(arch.pop("vocab_size"))
    # The chat prompt is part of every item: include it so that it gets compact pieces.
    corpus = list(texts) + [f"{SYSTEM} USER: {make_query('dam-3b-video', n)} ASSISTANT:" for n in (1, 8)] * 50
    proto = train_tokenizer(corpus, vocab)
    tokenizer = DamTokenizer(proto)
    torch.manual_seed(seed)
    config = synthetic_config(vocab_size=len(tokenizer), **arch)
    model = DamModel.from_config(config, tokenizer, device=device, dtype=torch.float32)
    for block in model.vision.context_provider.layers:  # small random gates, so that gradients reach the blocks
        if block.attn_factor is not None:
            nn.init.constant_(block.attn_factor, 0.1)
            nn.init.constant_(block.mlp_factor, 0.1)
    return model, proto


def load_init(init: str, texts: Sequence[str], device: str | torch.device) -> tuple[DamModel, bytes]:
    """``init`` is an architecture file (.yaml/.json) for a new model, or a checkpoint folder or hub id."""
    path = Path(init)
    if path.suffix in {".yaml", ".yml", ".json"}:
        return new_model(read_architecture(init), texts, device)
    model = DamModel.from_pretrained(init, device=device, dtype=torch.float32 if str(device) == "cpu" else None)
    return model, model.tokenizer.model_proto


# -- training --

class AuxHeads(nn.Module):
    """Linear probes on per-frame mean visual tokens (training only)."""

    def __init__(self, dim: int, frames: int, colours: int, shapes: int, motions: int) -> None:
        super().__init__()
        self.frames = frames
        self.colour, self.shape = nn.Linear(dim, colours), nn.Linear(dim, shapes)
        self.position = nn.Linear(dim, 2)
        self.motion = nn.Linear(frames * dim, motions)

    def loss(self, pooled: torch.Tensor, attrs: list[dict]) -> torch.Tensor:
        """``pooled`` [B, F, D]; ``attrs`` with colour/shape/motion indices and centres [F, 2]."""
        device = pooled.device
        target = {k: torch.tensor([a[k] for a in attrs], device=device) for k in ("colour", "shape", "motion")}
        centres = torch.tensor(np.array([a["centres"] for a in attrs]), dtype=pooled.dtype, device=device)
        mean = pooled.mean(1)
        return (F.cross_entropy(self.colour(mean), target["colour"]) + F.cross_entropy(self.shape(mean), target["shape"])
                + F.cross_entropy(self.motion(pooled.flatten(1)), target["motion"])
                + 10 * F.mse_loss(self.position(pooled), centres))


@dataclass
class TrainSettings:
    steps: int = 3000
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1e-3  # LLM
    vision_lr: float = 2e-3  # tower, mask conv, context provider, projector, aux heads
    weight_decay: float = 0.01
    warmup: int = 100
    freeze: tuple[str, ...] = ()  # "vision" and/or "llm"
    aux_weight: float = 0.0
    save_every: int = 250
    seed: int = 0
    threads: int | None = None


def _as_sets(data: EncodedSet | Sequence[EncodedSet]) -> list[EncodedSet]:
    return [data] if isinstance(data, EncodedSet) else list(data)


def batch_loss(model: DamModel, data: EncodedSet, index: Sequence[int], heads: AuxHeads | None,
               aux_weight: float) -> tuple[torch.Tensor, float]:
    """Mean caption-token cross-entropy (+ the auxiliary loss); returns (loss, caption loss)."""
    index = list(index)
    frames = data.pixels.shape[1]
    prepared = Prepared(ids=[data.prompt[i] for i in index], pixels=data.pixels[index].flatten(0, 1),
                        targets=[data.caption[i] for i in index])
    out = model(prepared)  # the forward inference uses too, right-padded
    loss = out.loss
    if heads is not None and aux_weight > 0 and frames == heads.frames:
        attrs = [data.attributes[i] for i in index]
        if all(a is not None for a in attrs):
            pooled = out.visual.float().mean(1).view(len(index), frames, -1)
            loss = loss + aux_weight * heads.loss(pooled, attrs)
    return loss, out.loss.item()


def _param_groups(model: DamModel, heads: AuxHeads | None, s: TrainSettings) -> list[dict]:
    groups: dict[str, list[nn.Parameter]] = {"vision": [], "vision_nodecay": [], "llm": [], "llm_nodecay": []}
    for name, module in (("vision", model.vision), ("llm", model.llm), ("vision", heads)):
        if module is None or name in s.freeze:
            continue
        for p in module.parameters():
            p.requires_grad_(True)
            groups[name + ("_nodecay" if p.ndim < 2 else "")].append(p)
    lrs = {"vision": s.vision_lr, "llm": s.lr}
    return [{"params": params, "lr": lrs[key.split("_")[0]], "base_lr": lrs[key.split("_")[0]],
             "weight_decay": 0.0 if key.endswith("nodecay") else s.weight_decay}
            for key, params in groups.items() if params]


def state_dir(out_dir: str | Path) -> Path:
    """Where training keeps its resumable state for the model folder ``out_dir`` (beside it, not in it)."""
    out = Path(out_dir)
    return out.with_name(out.name + ".state")


def train(model: DamModel, tokenizer_model: bytes, data: EncodedSet | Sequence[EncodedSet], out_dir: str | Path,
          settings: TrainSettings, heads: AuxHeads | None = None, resume: bool = False) -> DamModel:
    """Train ``model`` on ``data``. Every ``save_every`` steps the model is written to ``out_dir`` in the official
    layout, and the optimizer state to ``state_dir(out_dir)``, with a JSON-lines log of the loss there.
    Several sets (items of different frame counts, e.g. videos and still images) take turns, a batch each."""
    s = settings
    out = Path(out_dir)
    state = state_dir(out)
    state.mkdir(parents=True, exist_ok=True)
    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rng = random.Random(s.seed)
    model.train()
    model.requires_grad_(False)
    groups = _param_groups(model, heads, s)
    if not groups:
        raise UserError("nothing to train: both the vision side and the LLM are frozen")
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98))
    step = _resume(state, optimizer, heads, rng, model.device) if resume else 0
    batches = _Turns(_as_sets(data), s.batch_size, rng)
    bar = tqdm(total=s.steps, initial=step, desc="training", unit="step", file=sys.stderr, dynamic_ncols=True)
    started, recent = time.perf_counter(), []
    with (state / "log.jsonl").open("a", encoding="utf-8") as log_file:
        while step < s.steps:
            caption_loss = _step(model, optimizer, groups, batches, heads, s, step)
            step += 1
            recent = (recent + [caption_loss])[-50:]
            bar.set_postfix(loss=f"{np.mean(recent):.3f}")
            bar.update(1)
            log_file.write(json.dumps({"step": step, "loss": round(caption_loss, 4),
                                       "seconds": round(time.perf_counter() - started, 1)}) + "\n")
            log_file.flush()
            if step % s.save_every == 0 or step == s.steps:
                _checkpoint(model, tokenizer_model, optimizer, heads, step, rng, out, state)
    bar.close()
    model.eval()
    model.requires_grad_(False)
    return model


class _Turns:
    """Batches of several sets taking turns, each set's items in a fresh random order every pass."""

    def __init__(self, sets: list[EncodedSet], batch_size: int, rng: random.Random) -> None:
        self.sets, self.batch_size, self.rng = sets, batch_size, rng
        self.orders: list[list[int]] = [[] for _ in sets]

    def batch(self, turn: int) -> tuple[EncodedSet, list[int]]:
        k = turn % len(self.sets)
        current, order = self.sets[k], self.orders[k]
        if len(order) < self.batch_size:
            fresh = list(range(len(current)))
            self.rng.shuffle(fresh)
            order += fresh
        index, self.orders[k] = order[:self.batch_size], order[self.batch_size:]
        return current, index


def _step(model: DamModel, optimizer: torch.optim.Optimizer, groups: list[dict], batches: _Turns,
          heads: AuxHeads | None, s: TrainSettings, step: int) -> float:
    """One optimizer step (``grad_accum`` batches) at the warm-up and cosine learning rate; the caption loss."""
    lr_scale = min(1.0, (step + 1) / max(s.warmup, 1)) * (0.55 + 0.45 * math.cos(math.pi * step / s.steps))
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * lr_scale
    optimizer.zero_grad(set_to_none=True)
    caption_loss = 0.0
    for micro in range(s.grad_accum):
        data, index = batches.batch(step * s.grad_accum + micro)
        loss, part = batch_loss(model, data, index, heads, s.aux_weight)
        (loss / s.grad_accum).backward()
        caption_loss += part / s.grad_accum
    torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
    optimizer.step()
    return caption_loss


def _resume(state: Path, optimizer: torch.optim.Optimizer, heads: AuxHeads | None, rng: random.Random,
            device: torch.device) -> int:
    """Restore the optimizer, heads and sampling order saved in ``state``; the step reached (0 if none)."""
    if not (state / STATE_FILE).is_file():
        return 0
    saved = torch.load(state / STATE_FILE, map_location=device, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    if heads is not None and saved.get("heads"):
        heads.load_state_dict(saved["heads"])
    rng.setstate(_tuple(saved["rng"]))
    return int(saved["step"])


# -- the whole train-dam job --

def train_dam(datasets: Sequence[str], init: str, out: str | Path, settings: TrainSettings,
              device: str | None = None, processes: int = 2, resume: bool = False,
              echo: Callable[[str], None] | None = None) -> DamModel:
    """Train or fine-tune DAM on dataset specs (see ``datasets.load_examples``) and save it to ``out``.

    ``init`` is an architecture file for a new model or a checkpoint (``load_init``); with ``resume`` and a
    saved state, training continues from ``out`` instead. ``device`` defaults to CUDA when present;
    ``processes`` generate shapes data; ``echo`` gets progress lines. Returns the trained model.
    """
    echo = echo or (lambda _: None)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    state = state_dir(out)
    echo(f"preparing data {', '.join(datasets)} ...")
    examples = {data: load_examples(data, processes) for data in datasets}
    if resume and (state / STATE_FILE).is_file():
        model, proto = load_init(str(out), [], device)
    else:
        model, proto = load_init(init, [ex.caption for items in examples.values() for ex in items], device)
    encoded = [cached_encoding(model, items, data, state) for data, items in examples.items()]
    del examples
    heads = aux_heads(model, encoded) if settings.aux_weight > 0 else None
    params = sum(p.numel() for p in model.parameters())
    echo(f"{sum(len(e) for e in encoded)} items, {params / 1e6:.2f} M parameters, training on {device}")
    return train(model, proto, encoded, out, settings, heads, resume=resume)


def aux_heads(model: DamModel, encoded: Sequence[EncodedSet]) -> AuxHeads:
    """Auxiliary heads for the video sets among ``encoded``, whose items must carry attributes (shapes data)."""
    from videocap.dam.shapes_data import MOTIONS
    from videocap.synthetic import COLOURS, SHAPES

    video_sets = [e for e in encoded if e.pixels.shape[1] > 1]
    if not video_sets or any(a is None for e in video_sets for a in e.attributes):
        raise UserError("--aux-weight needs attribute labels, which only shapes:N data has")
    return AuxHeads(model.config.llm.hidden_size, video_sets[0].pixels.shape[1], len(COLOURS), len(SHAPES),
                    len(MOTIONS)).to(model.device)


def _tuple(value):
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def _checkpoint(model: DamModel, tokenizer_model: bytes, optimizer: torch.optim.Optimizer, heads: AuxHeads | None,
                step: int, rng: random.Random, out: Path, state: Path) -> None:
    save_pretrained(model, out, tokenizer_model)
    saved = {"step": step, "optimizer": optimizer.state_dict(), "heads": heads.state_dict() if heads else None,
             "rng": _listify(rng.getstate())}
    tmp = state / f".{STATE_FILE}.partial"
    torch.save(saved, tmp)
    tmp.replace(state / STATE_FILE)


def _listify(value):
    return [_listify(v) for v in value] if isinstance(value, tuple) else value
