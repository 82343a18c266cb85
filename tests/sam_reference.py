"""transformers' own whole-video propagation of region prompts, the reference for videocap's streamed one."""

from __future__ import annotations

import numpy as np

from videocap.masks import BoxMask
from videocap.segment.propagation import prompt_inputs


def whole_video(tracker, frames, prompts, start, reverse) -> dict[int, list]:
    """transformers' own propagation over the decoded frames: frame -> (id, mask, score) per object."""
    processor, model = tracker.processor, tracker.model
    session = processor.init_video_session(video=frames, inference_device="cpu")
    for n, prompt in enumerate(prompts):
        processor.add_inputs_to_inference_session(session, frame_idx=start, obj_ids=n + 1,
                                                  **prompt_inputs(prompt, frames[0].shape[:2]))
    session.obj_with_new_inputs = list(range(1, len(prompts) + 1))
    return {out.frame_idx: tracker.found(out, frames[0].shape[:2])
            for out in model.propagate_in_video_iterator(session, start_frame_idx=start, reverse=reverse)}


def assert_same(ours, theirs) -> None:
    assert ours.track_ids.tolist() == [i for i, _, _ in theirs]
    assert list(ours.masks) == [BoxMask.from_mask(m) for _, m, _ in theirs]
    np.testing.assert_allclose(ours.scores, [s for *_, s in theirs], rtol=1e-6)
