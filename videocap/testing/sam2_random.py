"""Random SAM 2.1 checkpoints at a tiny size, for tests (no network: the real ones are downloads).

``save_random_sam2(folder)`` writes what ``facebook/sam2.1-hiera-large`` holds, in the same layout: a
``Sam2VideoConfig`` checkpoint (``config.json`` + ``model.safetensors``; ``Sam2Model`` loads its image
part) and a ``Sam2VideoProcessor`` config. Every width is a few dozen channels and the memory windows
are short (``num_maskmem`` 3, 4 object pointers, 2 conditioning frames), so that a clip of ten frames
already runs past them. The object-presence score is pushed high: random weights would otherwise call
every object occluded, and the masks would be empty.
"""

from __future__ import annotations

from pathlib import Path

IMAGE = 128  # input side; Hiera's four stages see 32, 16, 8 and 4 cells
WIDTH = 128  # FPN, prompt, mask decoder, memory width: memory attention reads 64 channels (fixed), less crashes


def random_config():
    """A tiny ``Sam2VideoConfig`` with short memory windows."""
    from transformers import Sam2VideoConfig

    backbone = dict(model_type="sam2_hiera_det_model", hidden_size=16, num_attention_heads=1, image_size=[IMAGE] * 2,
                    blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[16, 32, 64, 128],
                    num_attention_heads_per_stage=[1, 1, 2, 2], window_size_per_stage=[4, 4, 4, 2],
                    global_attention_blocks=[3], window_positional_embedding_background_size=[4, 4])
    sizes = [[IMAGE // 4] * 2, [IMAGE // 8] * 2, [IMAGE // 16] * 2]
    vision = dict(model_type="sam2_vision_model", backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
                  backbone_feature_sizes=sizes, fpn_hidden_size=WIDTH)
    grid = IMAGE // 16
    return Sam2VideoConfig(
        vision_config=vision, image_size=IMAGE,
        prompt_encoder_config=dict(hidden_size=WIDTH, image_size=IMAGE, patch_size=16),
        mask_decoder_config=dict(hidden_size=WIDTH, mlp_dim=2 * WIDTH, num_attention_heads=2, iou_head_hidden_dim=WIDTH),
        num_maskmem=3, max_object_pointers_in_encoder=4, max_cond_frame_num=2,
        memory_attention_hidden_size=WIDTH, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=2 * WIDTH, memory_attention_rope_feat_sizes=[grid, grid],
        memory_encoder_hidden_size=WIDTH, mask_downsampler_embed_dim=WIDTH,
        memory_fuser_embed_dim=WIDTH, memory_fuser_intermediate_dim=2 * WIDTH)


def save_random_sam2(folder: str | Path, seed: int = 0) -> Path:
    """A random SAM 2.1 checkpoint with its processor in ``folder`` (the hub's layout)."""
    import torch
    from transformers import Sam2ImageProcessor, Sam2VideoModel, Sam2VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import (
        Sam2VideoVideoProcessor,
    )

    folder = Path(folder)
    torch.manual_seed(seed)
    model = Sam2VideoModel(random_config())
    with torch.no_grad():  # random weights would call every object occluded
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    model.save_pretrained(folder, safe_serialization=True)
    square = {"height": IMAGE, "width": IMAGE}
    low_res = IMAGE // 4
    image_processor = Sam2ImageProcessor(size=square, mask_size={"height": low_res, "width": low_res})
    Sam2VideoProcessor(image_processor=image_processor, video_processor=Sam2VideoVideoProcessor(size=square),
                       target_size=IMAGE).save_pretrained(folder)
    return folder
