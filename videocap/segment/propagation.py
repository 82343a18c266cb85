"""Region prompts followed through a video by a SAM 2-style video tracker (a ``PromptTracker``).

``RegionPropagator`` drives transformers' ``Sam2VideoModel`` (SAM 2.1) or ``Sam3TrackerVideoModel``
(SAM 3's tracker; the same code, a copy in transformers) in streaming mode: frames go into the
session one at a time (``model(inference_session=s, frame=..., frame_idx=..., reverse=...)``).

Design, two passes over the range, each with one session that every object shares:

1. **Backward**, from the last prompted frame down to the range's first frame. The frames are decoded
   forward in chunks of ``CHUNK`` (one ffmpeg seek each) and fed in reverse. An object joins the
   session on its prompt's frame; the pass keeps, of each frame before an object's prompt, that
   object's mask as a ``BoxMask`` (a compressed crop: bytes per frame, not a frame of pixels).
2. **Forward**, from the first prompted frame to the range's end, objects joining on their prompt's
   frames again. Each frame's detections are yielded as they come, with the backward pass's
   objects of that frame; frames before the first prompt come from the backward pass alone.

So every object is propagated forward and backward from its own prompt, as transformers'
``propagate_in_video_iterator`` does from a start frame (forward, or with ``reverse=True``) in a fresh
session. Session frame numbers are positions in the range (``--stride`` frames are neighbours).

Memory: transformers' session keeps every frame's pixels and every object's per-frame memory. After
each frame ``forget_tracked_state`` drops the pixels (the frame's features stay cached for the step
that needs them) and tracked frames older than the memory bank (``num_maskmem``) and object-pointer
window (``max_object_pointers_in_encoder``): state stays flat with video length. A prompt frame's
conditioning output is kept (one per object). In streaming mode transformers uses the whole
object-pointer window; on a range shorter than it (16 frames for SAM 2.1), whole-video mode scales
the pointers' temporal encoding to the range, so the two differ slightly there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from videocap.errors import UserError
from videocap.io.video import Frame, Video
from videocap.prompts import RegionPrompt
from videocap.results import FrameRange
from videocap.segment.detections import Detections, masks_to_detections

CHUNK = 16  # frames decoded at once for the backward pass


class RegionPropagator:
    """Follows each region prompt through a range with a SAM 2-style video model and its processor."""

    def __init__(self, model, processor) -> None:
        self.model, self.processor = model, processor
        self.device = next(model.parameters()).device
        self.session = None  # the pass's session (kept for inspection)

    def track_prompts(self, video: Video, frame_range: FrameRange, prompts: Sequence[RegionPrompt]
                      ) -> Iterator[Detections]:
        """Every frame's ``Detections`` of the range, in frame order; object n is prompt n - 1."""
        if not prompts:
            raise UserError("no region prompt: pass --point X,Y, --box X1,Y1,X2,Y2 or --mask FILE.png")
        starts = [prompt_position(p, frame_range) for p in prompts]
        earlier = {}
        if max(starts) > 0:
            frames = frames_backward(video, frame_range, max(starts))
            earlier = {d.frame_index: d for d in self.propagate(frames, frame_range, prompts, starts, reverse=True)}
        first = frame_range.start + min(starts) * frame_range.stride
        for index in range(frame_range.start, first, frame_range.stride):
            yield earlier.pop(index)
        with video.read(FrameRange(first, frame_range.end, frame_range.stride)) as reader:
            for found in self.propagate(reader, frame_range, prompts, starts, reverse=False):
                yield joined(found, earlier.pop(found.frame_index, None))

    def propagate(self, frames, frame_range: FrameRange, prompts: Sequence[RegionPrompt], starts: list[int],
                  reverse: bool) -> Iterator[Detections]:
        """One pass over ``frames`` (in the pass's order) in a fresh session; backward, only each object's
        frames before its prompt."""
        self.session = self.processor.init_video_session(inference_device=self.device, dtype=self.model.dtype)
        for frame in frames:
            position = (frame.index - frame_range.start) // frame_range.stride
            self.add_prompts(frame, position, [(n + 1, p) for n, p in enumerate(prompts) if starts[n] == position])
            found = self.step(frame, position, reverse)
            if reverse:
                found = [(i, m, s) for i, m, s in found if starts[i - 1] > position]
            yield masks_to_detections(np.asarray([m for _, m, _ in found]).reshape(-1, *frame.image.shape[:2]),
                                      [s for *_, s in found], [prompts[i - 1].label for i, *_ in found],
                                      [i for i, *_ in found], frame.index, frame.time)

    def add_prompts(self, frame: Frame, position: int, objects: list[tuple[int, RegionPrompt]]) -> None:
        """Put the objects prompted on this frame into the session."""
        size = frame.image.shape[:2]
        for object_id, prompt in objects:
            self.processor.add_inputs_to_inference_session(self.session, frame_idx=position, obj_ids=object_id,
                                                           **prompt_inputs(prompt, size))
        if objects:  # each call above replaced the list of objects with new inputs: name them all
            self.session.obj_with_new_inputs = [object_id for object_id, _ in objects]

    def step(self, frame: Frame, position: int, reverse: bool) -> list[tuple[int, np.ndarray, float]]:
        """(object id, frame-size mask, score) of every object in the session on this frame."""
        import torch

        pixels = self.processor(images=frame.image, return_tensors="pt").pixel_values[0]
        with torch.inference_mode():
            output = self.model(inference_session=self.session, frame=pixels, frame_idx=position, reverse=reverse)
        forget_tracked_state(self.session, self.model.config, position)
        return self.found(output, frame.image.shape[:2])

    def found(self, output, size: tuple[int, int]) -> list[tuple[int, np.ndarray, float]]:
        """A model output as (object id, frame-size boolean mask, presence score) per object, by id."""
        import torch

        masks = self.processor.post_process_masks([output.pred_masks], original_sizes=[list(size)], binarize=True)[0]
        scores = torch.sigmoid(output.object_score_logits.float()).reshape(-1).tolist()
        return sorted(zip(output.object_ids, masks[:, 0].cpu().numpy(), scores), key=lambda found: found[0])


def prompt_position(prompt: RegionPrompt, frame_range: FrameRange) -> int:
    """The prompt's frame as a position in the range (the nearest frame of a strided range)."""
    frame = frame_range.start if prompt.frame is None else prompt.frame
    if not frame_range.start <= frame < frame_range.end:
        raise UserError(f"{prompt.kind} prompt {prompt.label!r}: frame {frame} is outside the range "
                        f"[{frame_range.start}, {frame_range.end})")
    return min(round((frame - frame_range.start) / frame_range.stride), len(frame_range) - 1)


def prompt_identity(prompts: Sequence[RegionPrompt]) -> list[dict]:
    """The prompts as the tracking cache keys them: a mask prompt by its file's content, not where it lies."""
    from videocap.segment.cache import file_sha256

    return [{**p.to_json(), **({"mask": file_sha256(p.mask)} if p.kind == "mask" else {})} for p in prompts]


def prompt_inputs(prompt: RegionPrompt, size: tuple[int, int]) -> dict:
    """The processor's inputs for one prompt on a frame of ``size`` (height, width)."""
    if prompt.kind == "points":
        return {"input_points": [[[list(p) for p in prompt.points]]], "input_labels": [[list(prompt.point_labels)]],
                "original_size": size}
    if prompt.kind == "box":
        return {"input_boxes": [[list(prompt.box)]], "original_size": size}
    return {"input_masks": load_mask(prompt.mask, size)}


def load_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """A mask PNG as a boolean array (non-zero: the object), checked against the frame's size."""
    from PIL import Image

    with Image.open(path) as image:
        mask = np.asarray(image.convert("L")) > 0
    if mask.shape != tuple(size):
        raise UserError(f"--mask {path}: {mask.shape[1]}x{mask.shape[0]} pixels, the frame is {size[1]}x{size[0]}: "
                        "give a mask the size of the frame as displayed")
    if not mask.any():
        raise UserError(f"--mask {path}: every pixel is zero: mark the object with non-zero pixels")
    return mask


def frames_backward(video: Video, frame_range: FrameRange, last: int) -> Iterator[Frame]:
    """The range's frames from position ``last`` down to its first, decoded ``CHUNK`` at a time."""
    start, stride = frame_range.start, frame_range.stride
    for high in range(last + 1, 0, -CHUNK):
        low = max(high - CHUNK, 0)
        with video.read(FrameRange(start + low * stride, start + high * stride, stride)) as reader:
            chunk = list(reader)
        yield from reversed(chunk)


def forget_tracked_state(session, config, position: int) -> None:
    """Drop what the model will not read again after the frame at ``position`` (see the module's notes)."""
    window = max(config.num_maskmem, config.max_object_pointers_in_encoder)
    session.processed_frames.clear()  # streaming reads a frame's pixels only in its own step
    for obj_idx, outputs in session.output_dict_per_obj.items():
        tracked = outputs["non_cond_frame_outputs"]
        for old in [f for f in tracked if abs(f - position) >= window]:
            del tracked[old]
        steps = session.frames_tracked_per_obj[obj_idx]
        for old in [f for f in steps if f != position]:
            del steps[old]


def joined(forward: Detections, backward: Detections | None) -> Detections:
    """One frame's detections from both passes, by object id."""
    if backward is None or len(backward) == 0:
        return forward
    both = [forward, backward]
    ids = np.concatenate([d.track_ids for d in both])
    order = np.argsort(ids, kind="stable")
    names = forward.class_names + backward.class_names
    masks = forward.masks + backward.masks
    return Detections(forward.frame_index, forward.time, np.concatenate([d.boxes for d in both])[order],
                      np.concatenate([d.scores for d in both])[order], tuple(names[i] for i in order), ids[order],
                      tuple(masks[i] for i in order))
