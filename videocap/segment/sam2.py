"""Meta's SAM 2.1 at the edge (transformers' ``Sam2VideoModel`` and ``Sam2Model``): *this* object, followed.

SAM 2 takes region prompts only (``--point``, ``--box``, ``--mask``; ``videocap.prompts``), no class
names. In a video each prompt is one object, propagated forward and backward from its frame by
``videocap.segment.propagation.RegionPropagator`` (two streamed passes, state pruned so memory stays
flat with video length; see that module). On a photo ``Sam2PhotoSegmenter`` segments each prompt
with ``Sam2Model``, the image part of the same checkpoint.

The default checkpoint is ``facebook/sam2.1-hiera-large`` (Apache-2.0), found through videocap's
model rule (``videocap.checkpoints``): a local folder or a hub id, in the Hugging Face cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from videocap import checkpoints
from videocap.errors import UserError
from videocap.io.video import Frame
from videocap.prompts import RegionPrompt
from videocap.segment.detections import Detections, masks_to_detections
from videocap.segment.propagation import RegionPropagator, load_mask, prompt_identity
from videocap.segment.registry import Segmenter
from videocap.segment.sam3 import checked_checkpoint, torch_device

DEFAULT = "facebook/sam2.1-hiera-large"
HUB_PATTERNS = ["*.json", "*.safetensors"]  # configs, processor, weights
NO_CLASSES = ("SAM 2 takes region prompts (--point, --box, --mask), not class names (--class): use --segmenter "
              "sam3 or yolo for classes")


def resolve_sam2(path_or_id: str | Path) -> Path:
    """The SAM 2 checkpoint folder for a local folder or a hub id; one line when it cannot be had."""
    ref = checkpoints.classify(path_or_id)
    what = f"--segmenter-model {path_or_id}"
    if ref.kind == checkpoints.HUB:
        folder = checkpoints.hub_snapshot(ref.text, HUB_PATTERNS, "SAM 2 checkpoint", "--segmenter-model")
        return checked_checkpoint(folder, what, "SAM 2")
    if ref.path is None or not ref.path.exists():
        raise UserError(f"{what}: no such folder (give a SAM 2 checkpoint folder or a hub id such as {DEFAULT})")
    return checked_checkpoint(ref.path, what, "SAM 2")


def load_sam2(checkpoint: str | Path, device: str | None = None, video: bool = True):
    """(model, processor) of a SAM 2 checkpoint on ``device``: the video model, or the image one."""
    import transformers

    folder = resolve_sam2(checkpoint)
    model_class, processor_class = (("Sam2VideoModel", "Sam2VideoProcessor") if video
                                    else ("Sam2Model", "Sam2Processor"))
    model = getattr(transformers, model_class).from_pretrained(folder, use_safetensors=True)
    return model.to(torch_device(device)).eval(), getattr(transformers, processor_class).from_pretrained(folder)


def prompt_tracker(checkpoint: str | Path = DEFAULT, device: str | None = None) -> RegionPropagator:
    """A ``PromptTracker`` with SAM 2.1's video model."""
    return RegionPropagator(*load_sam2(checkpoint, device))


class NoTracker:
    """The class-name ``Tracker`` of a segmenter without class names, when none is asked for: finds nothing."""

    def select_classes(self, classes) -> None:
        if any(c.strip() for c in classes):
            raise UserError(NO_CLASSES)

    def reset(self) -> None:
        pass

    def update(self, frame: Frame) -> Detections:
        return Detections.empty(frame.index, frame.time)


def class_tracker(settings) -> NoTracker:
    tracker = NoTracker()
    tracker.select_classes(settings.classes)
    return tracker


# -- photos --

class Sam2PhotoSegmenter:
    """SAM 2.1 on single photos: one object per region prompt, numbered in prompt order."""

    def __init__(self, checkpoint: str | Path = DEFAULT, prompts: Sequence[RegionPrompt] = (),
                 device: str | None = None, model=None, processor=None) -> None:
        self.prompts = tuple(prompts)
        if model is None:
            model, processor = load_sam2(checkpoint, device, video=False)
        self.model, self.processor = model, processor
        self.device = next(model.parameters()).device

    def __call__(self, image: np.ndarray) -> Detections:
        """The settings' prompts on ``image``."""
        if not self.prompts:
            raise UserError(NO_CLASSES)
        return self.segment_prompts(image, self.prompts)

    def segment_prompts(self, image: np.ndarray, prompts: Sequence[RegionPrompt]) -> Detections:
        """Each prompt's object on ``image`` (RGB); a mask prompt is its own object (score 1)."""
        import torch

        size = image.shape[:2]
        inputs = self.processor(images=image, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            embeddings = self.model.get_image_embeddings(inputs.pixel_values)  # once for all prompts
            found = [(load_mask(p.mask, size), 1.0) if p.kind == "mask" else self.segment(embeddings, p, size)
                     for p in prompts]
        return masks_to_detections(np.asarray([m for m, _ in found]).reshape(-1, *size), [s for _, s in found],
                                   [p.label for p in prompts], range(1, len(prompts) + 1), 0, 0.0)

    def segment(self, embeddings, prompt: RegionPrompt, size: tuple[int, int]) -> tuple[np.ndarray, float]:
        """(mask, predicted IoU) of one point or box prompt; one point is ambiguous: the best of three masks."""
        if prompt.kind == "points":
            given = {"input_points": [[[list(p) for p in prompt.points]]], "input_labels": [[list(prompt.point_labels)]]}
        else:
            given = {"input_boxes": [[list(prompt.box)]]}
        encoded = self.processor(original_sizes=[list(size)], return_tensors="pt", **given).to(self.device)
        del encoded["original_sizes"]
        several = prompt.kind == "points" and len(prompt.points) == 1
        output = self.model(image_embeddings=embeddings, multimask_output=several, **encoded)
        masks = self.processor.post_process_masks(output.pred_masks.cpu(), [list(size)])[0][0]
        scores = output.iou_scores[0, 0].float().cpu()
        best = int(scores.argmax())
        return masks[best].numpy(), float(scores[best])


# -- the registry entry (``videocap.segment.registry``) --

def _cache_identity(settings) -> dict:
    from videocap.segment.cache import folder_identity

    return {"segmenter": "sam2", "model": folder_identity(settings.segmenter_model),
            "prompts": prompt_identity(settings.prompts),
            "device": settings.device, "tracker": "sam2 propagation"}


SEGMENTER = Segmenter(
    "sam2",
    make_tracker=class_tracker,
    make_photo_segmenter=lambda settings: Sam2PhotoSegmenter(settings.segmenter_model, settings.prompts,
                                                             settings.device),
    cache_identity=_cache_identity,
    model_record=checkpoints.provenance,
    tracker_record=lambda: "sam2",
    make_prompt_tracker=lambda settings: prompt_tracker(settings.segmenter_model, settings.device),
)
