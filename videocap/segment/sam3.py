"""Meta's SAM 3 at the edge (transformers' ``Sam3VideoModel`` and ``Sam3Model``): any noun phrase, tracked.

``Sam3Tracker`` streams videocap's decoded frames one at a time into a ``Sam3VideoInferenceSession``
(``model(session, frame=...)``, transformers' streaming mode) with every ``--class`` as a text prompt;
each masklet keeps SAM 3's own object id (plus one: videocap's labels count from 1) and the class
name of the prompt that found it. ``Sam3Segmenter`` does the same for single photos with ``Sam3Model``.

Memory: transformers' session keeps every frame's pixels and every object's per-frame memory for the
whole video (the most reported SAM 3 problem on long videos). After each frame ``Sam3Tracker`` forgets
what the model can no longer read: older frames' pixels (their entries stay, a few bytes each), memories older than the memory bank
(``num_maskmem``) and the object-pointer window (``max_object_pointers_in_encoder``), conditioning
frames beyond the object's first and its newest ``max_cond_frame_num - 1``, and per-frame bookkeeping.
On clips shorter than those windows the results are exactly the unpruned ones.

In streaming mode transformers skips SAM 3's "hot start" removal of doubtful new masklets (it needs
later frames); videocap's ``min_frames``/``min_score`` track filters play that part.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from videocap import checkpoints
from videocap.errors import UserError
from videocap.io.video import Frame
from videocap.segment.detections import Detections, masks_to_detections
from videocap.segment.propagation import RegionPropagator, prompt_identity
from videocap.segment.registry import Segmenter

HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt"]  # configs, processor, tokenizer, weights


# -- finding a checkpoint --

def resolve_sam3(path_or_id: str | Path) -> Path:
    """The SAM 3 checkpoint folder for a local folder or a hub id (``videocap.checkpoints``' rule and hub cache);
    one line when it cannot be had."""
    ref = checkpoints.classify(path_or_id)
    if ref.kind == checkpoints.HUB:
        try:
            folder = checkpoints.hub_snapshot(ref.text, HUB_PATTERNS, "SAM 3 checkpoint", "--sam3")
        except UserError as exc:
            if "is gated" in str(exc):
                raise
            raise UserError(f"{exc} (SAM 3 is gated: accept its licence, the SAM License, on huggingface.co/"
                            f"{ref.text} and log in with `hf auth login` before downloading)") from None
        return checked_checkpoint(folder, f"--sam3 {ref.text}")
    if ref.path is None or not ref.path.exists():
        raise UserError(f"--sam3 {path_or_id}: no such folder (give a SAM 3 checkpoint folder or a hub id such as "
                        "facebook/sam3)")
    return checked_checkpoint(ref.path, f"--sam3 {path_or_id}")


def checked_checkpoint(folder: Path, what: str, model: str = "SAM 3") -> Path:
    """``folder`` when it holds a transformers checkpoint in safetensors; else one line saying what is missing."""
    if not folder.is_dir():
        raise UserError(f"{what}: {folder} is a file; give the checkpoint folder (config.json, model.safetensors, "
                        "processor and tokenizer files)")
    if not (folder / "config.json").is_file():
        raise UserError(f"{what}: {folder} has no config.json: not a transformers {model} checkpoint")
    if not any(folder.glob("*.safetensors")):
        raise UserError(f"{what}: {folder} has no .safetensors weights (videocap loads safetensors only)")
    return folder


def torch_device(device: str | None) -> str:
    """A torch device from videocap's ``--device`` (ultralytics style "0" means cuda:0); None: CUDA if any."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return f"cuda:{device}" if device.isdigit() else device


def prompts_of(classes: Iterable[str]) -> tuple[str, ...]:
    """Each ``--class`` as a text prompt (stripped, first occurrence kept)."""
    prompts = tuple(dict.fromkeys(c.strip() for c in classes if c.strip()))
    if not prompts:
        raise UserError("no text prompt: pass --class PHRASE, e.g. --class 'red car'")
    return prompts


# -- video --

def load_sam3(checkpoint: str | Path, device: str | None = None, video: bool = True):
    """(model, processor) of a SAM 3 checkpoint on ``device``: the video model, or (``video=False``) the
    single-image one (the video checkpoint's detector)."""
    import transformers

    folder = resolve_sam3(checkpoint)
    model_class, processor_class = (("Sam3VideoModel", "Sam3VideoProcessor") if video
                                    else ("Sam3Model", "Sam3Processor"))
    model = getattr(transformers, model_class).from_pretrained(folder, use_safetensors=True)
    return model.to(torch_device(device)).eval(), getattr(transformers, processor_class).from_pretrained(folder)


def prompt_tracker(checkpoint: str | Path = "facebook/sam3", device: str | None = None) -> RegionPropagator:
    """A ``PromptTracker`` with SAM 3's tracker (``Sam3TrackerVideoModel``, from the same checkpoint folder)."""
    import transformers

    folder = resolve_sam3(checkpoint)
    model = transformers.Sam3TrackerVideoModel.from_pretrained(folder, use_safetensors=True)
    processor = transformers.Sam3TrackerVideoProcessor.from_pretrained(folder)
    return RegionPropagator(model.to(torch_device(device)).eval(), processor)


class Sam3Tracker:
    """Segments and tracks every instance of each text prompt, one frame at a time (a ``Tracker``)."""

    def __init__(self, checkpoint: str | Path = "facebook/sam3", classes: Iterable[str] = ("person",),
                 device: str | None = None, model=None, processor=None) -> None:
        self.prompts = prompts_of(classes)
        if model is None:
            model, processor = load_sam3(checkpoint, device)
        self.model, self.processor = model, processor
        self.device = next(model.parameters()).device
        self.session = None

    def select_classes(self, classes: Iterable[str]) -> None:
        """Track these text prompts from the next ``reset`` on."""
        self.prompts = prompts_of(classes)

    def reset(self) -> None:
        """A fresh session (ids start again) with the prompts."""
        self.session = self.processor.init_video_session(inference_device=self.device, dtype=self.model.dtype)
        self.processor.add_text_prompt(self.session, list(self.prompts))

    def update(self, frame: Frame) -> Detections:
        """Stream one frame (RGB) into the session; call in frame order."""
        if self.session is None:
            self.reset()
        outputs = self.step(frame.image)
        return self.detections(outputs, frame.index, frame.time)

    def step(self, image: np.ndarray) -> dict:
        """The model's post-processed outputs for the next frame (object_ids, scores, masks, prompt_to_obj_ids)."""
        inputs = self.processor(images=image, return_tensors="pt")
        output = self.model(inference_session=self.session, frame=inputs.pixel_values[0])
        result = self.processor.postprocess_outputs(self.session, output, original_sizes=inputs.original_sizes)
        forget_old_state(self.session, self.model, output.frame_idx)
        return result

    def detections(self, outputs: dict, frame_index: int, time: float) -> Detections:
        """Post-processed outputs as ``Detections``; class name = the prompt that found the object."""
        prompt_of = {obj: text for text, objs in outputs["prompt_to_obj_ids"].items() for obj in objs}
        ids = [int(i) for i in outputs["object_ids"].tolist()]
        return masks_to_detections(outputs["masks"].cpu().numpy(), outputs["scores"].tolist(),
                                    [prompt_of[i] for i in ids], [i + 1 for i in ids], frame_index, time)


def forget_old_state(session, model, frame_idx: int) -> None:
    """Drop what the model will not read again after ``frame_idx`` (see the module's notes on memory)."""
    tracker = model.tracker_model.config
    window = max(tracker.num_maskmem, tracker.max_object_pointers_in_encoder)
    # Old frames' pixels are freed but their entries stay: the session numbers new frames, and the tracker
    # sizes its object-pointer window, by how many frames it holds.
    for old, pixels in session.processed_frames.items():
        if old < frame_idx and pixels.numel():
            session.processed_frames[old] = pixels.new_empty(0)
    for obj_idx, outputs in session.output_dict_per_obj.items():
        _drop_before(outputs["non_cond_frame_outputs"], frame_idx - window)
        cond = outputs["cond_frame_outputs"]
        if len(cond) > tracker.max_cond_frame_num:
            later = sorted(cond)[1:]  # the object's first conditioning frame stays
            for old in later[:len(later) - (tracker.max_cond_frame_num - 1)]:
                del cond[old]
        _drop_before(session.frames_tracked_per_obj.get(obj_idx, {}), frame_idx)
        _drop_before(session.mask_inputs_per_obj.get(obj_idx, {}), frame_idx)
    _drop_before(session.obj_id_to_tracker_score_frame_wise, frame_idx)
    _drop_before(session.suppressed_obj_ids, frame_idx)
    horizon = frame_idx - model.hotstart_delay
    for table in (session.unmatched_frame_inds, session.overlap_pair_to_frame_inds):
        for frames in table.values():
            frames[:] = [f for f in frames if f > horizon]


def _drop_before(per_frame: dict, frame_idx: int) -> None:
    for old in [i for i in per_frame if i < frame_idx]:
        del per_frame[old]


# -- photos --

class Sam3Segmenter:
    """SAM 3 on single photos: every instance of each text prompt scoring ``conf`` or more, best first."""

    def __init__(self, checkpoint: str | Path = "facebook/sam3", classes: Iterable[str] = ("person",),
                 conf: float = 0.5, device: str | None = None, model=None, processor=None) -> None:
        self.prompts = prompts_of(classes)
        if model is None:
            model, processor = load_sam3(checkpoint, device, video=False)
        self.model, self.processor, self.conf = model, processor, conf
        self.device = next(model.parameters()).device

    def __call__(self, image: np.ndarray) -> Detections:
        import torch

        height, width = image.shape[:2]
        pixels = self.processor(images=image, return_tensors="pt").pixel_values.to(self.device, self.model.dtype)
        masks, scores, names = [], [], []
        with torch.inference_mode():
            vision = self.model.get_vision_features(pixel_values=pixels)  # once for all prompts
            for prompt in self.prompts:
                text = self.processor(text=prompt, return_tensors="pt").to(self.device)
                output = self.model(vision_embeds=vision, input_ids=text.input_ids,
                                    attention_mask=text.attention_mask)
                found = self.processor.post_process_instance_segmentation(
                    output, threshold=self.conf, mask_threshold=0.5, target_sizes=[(height, width)])[0]
                masks += list(found["masks"].cpu().numpy().astype(bool))
                scores += found["scores"].tolist()
                names += [prompt] * len(found["scores"])
        order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
        return masks_to_detections(np.asarray([masks[i] for i in order]).reshape(-1, height, width),
                                    [scores[i] for i in order], [names[i] for i in order],
                                    [-1] * len(order), 0, 0.0)


# -- the registry entry (``videocap.segment.registry``) --

def _cache_identity(settings) -> dict:
    from videocap.segment.cache import folder_identity

    # SAM 3 numbers objects in prompt order and reads the prompts' case: keep them as given.
    identity = {"segmenter": "sam3", "model": folder_identity(settings.segmenter_model),
                "classes": [c.strip() for c in settings.classes], "conf": settings.conf, "imgsz": settings.imgsz,
                "device": settings.device, "tracker": "sam3 streaming"}
    if settings.prompts:  # only then: class-only runs keep the keys they had
        identity["prompts"] = prompt_identity(settings.prompts)
    return identity


SEGMENTER = Segmenter(
    "sam3",
    make_tracker=lambda settings: Sam3Tracker(settings.segmenter_model, settings.classes, settings.device),
    make_photo_segmenter=lambda settings: Sam3Segmenter(settings.segmenter_model, settings.classes, settings.conf,
                                                        settings.device),
    cache_identity=_cache_identity,
    model_record=checkpoints.provenance,
    tracker_record=lambda: "sam3",
    make_prompt_tracker=lambda settings: prompt_tracker(settings.segmenter_model, settings.device),
)
