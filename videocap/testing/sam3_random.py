"""Random SAM 3 checkpoints at small sizes, for tests and benchmarks (the real weights are gated).

``save_random_sam3(folder, size)`` writes what ``facebook/sam3`` holds, in the same layout: a
``Sam3VideoConfig`` checkpoint (``config.json`` + ``model.safetensors``; ``Sam3Model`` loads its
detector), a ``Sam3VideoProcessor`` config, and a CLIP-style byte-level BPE tokenizer built here from
the 512 byte symbols, a handful of merges and CLIP's two special tokens. Random weights find random
things: the detection thresholds are set low and the tracker's object-presence score high, so that
objects are found and then followed from frame to frame.
"""

from __future__ import annotations

from pathlib import Path

#: name -> (image size, ViT width, ViT layers, model width, detector queries)
SIZES = {"tiny": (56, 32, 1, 128, 3), "medium": (336, 256, 4, 256, 20)}
PATCH = 14
WORDS = ("circle", "square", "triangle", "person", "red", "car")  # merged into whole-word tokens


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins for bytes that byte-level BPE (GPT-2, CLIP) uses."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def tiny_tokenizer():
    """A ``CLIPTokenizer`` with every byte, ``WORDS`` as single tokens and CLIP's special tokens."""
    from transformers import CLIPTokenizer

    symbols = byte_symbols()
    vocab = {token: i for i, token in enumerate(symbols + [s + "</w>" for s in symbols])}
    merges = []
    for word in WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append((parts[0], parts[1]))
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges)


def random_config(size: str = "tiny", vocab_size: int = 1000, bos: int = 0, eos: int = 1, max_objects: int = 10000):
    """A ``Sam3VideoConfig`` at one of ``SIZES``, with low thresholds and no hot start."""
    from transformers import Sam3VideoConfig

    image, vit_width, vit_layers, width, queries = SIZES[size]
    grid = image // PATCH
    vit = dict(model_type="sam3_vit_model", hidden_size=vit_width, intermediate_size=2 * vit_width,
               num_hidden_layers=vit_layers, num_attention_heads=2, image_size=image, patch_size=PATCH,
               window_size=grid // 2, global_attn_indexes=[vit_layers - 1], pretrain_image_size=image)
    vision = dict(model_type="sam3_vision_model", backbone_config=vit, fpn_hidden_size=width,
                  backbone_feature_sizes=[[4 * grid] * 2, [2 * grid] * 2, [grid] * 2])
    text = dict(model_type="clip_text_model", vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                projection_dim=32, num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32,
                bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    block = dict(hidden_size=width, num_layers=1, num_attention_heads=2, intermediate_size=width)
    detector = dict(model_type="sam3", vision_config=vision, text_config=text, geometry_encoder_config=block,
                    detr_encoder_config=block, detr_decoder_config=dict(block, num_queries=queries),
                    mask_decoder_config=dict(hidden_size=width, num_attention_heads=2))
    # The tracker's memory width is fixed at 64 in transformers and must be below the model width.
    tracker = dict(model_type="sam3_tracker_video", vision_config=vision, image_size=image,
                   prompt_encoder_config=dict(hidden_size=width, image_size=image),
                   mask_decoder_config=dict(hidden_size=width, mlp_dim=width, num_attention_heads=2,
                                            iou_head_hidden_dim=width),
                   num_maskmem=3, max_object_pointers_in_encoder=4, max_cond_frame_num=2,
                   memory_attention_hidden_size=width, memory_attention_num_layers=1,
                   memory_attention_feed_forward_hidden_size=width, memory_attention_rope_feat_sizes=[grid, grid],
                   memory_encoder_hidden_size=width, mask_downsampler_embed_dim=width,
                   memory_fuser_embed_dim=width, memory_fuser_intermediate_dim=width)
    return Sam3VideoConfig(detector_config=detector, tracker_config=tracker, low_res_mask_size=4 * grid,
                           score_threshold_detection=0.2, new_det_thresh=0.2, hotstart_delay=0,
                           recondition_every_nth_frame=4, max_num_objects=max_objects)


def save_random_sam3(folder: str | Path, size: str = "tiny", seed: int = 0, max_objects: int = 10000) -> Path:
    """A random SAM 3 checkpoint with its processor and tokenizer in ``folder`` (the hub's layout)."""
    import torch
    from transformers import Sam3Processor, Sam3VideoModel, Sam3VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import (
        Sam2VideoVideoProcessor,
    )
    from transformers.models.sam3.image_processing_sam3 import Sam3ImageProcessor

    folder = Path(folder)
    tokenizer = tiny_tokenizer()
    config = random_config(size, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, max_objects)
    torch.manual_seed(seed)
    model = Sam3VideoModel(config)
    with torch.no_grad():  # random weights would call every tracked object occluded from its second frame on
        model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    model.save_pretrained(folder, safe_serialization=True)
    image = SIZES[size][0]
    square = {"height": image, "width": image}
    half = dict(image_mean=[0.5] * 3, image_std=[0.5] * 3)  # SAM 3 normalises to [-1, 1]
    low_res = 4 * (image // PATCH)
    image_processor = Sam3ImageProcessor(size=square, mask_size={"height": low_res, "width": low_res}, **half)
    video_processor = Sam2VideoVideoProcessor(size=square, **half)
    # The image processor's files first: the video processor's config (saved last) names both.
    Sam3Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    Sam3VideoProcessor(image_processor=image_processor, video_processor=video_processor,
                       tokenizer=tokenizer).save_pretrained(folder)
    return folder
