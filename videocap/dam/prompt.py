"""The ``v1`` chat prompt, DAM's default queries, and the token ids with image placeholders (spec §6)."""

from __future__ import annotations

from videocap.dam.tokenizer import DamTokenizer

IMAGE_PLACEHOLDER = "<image>"
IMAGE_TOKEN_ID = -200  # stands for one image's visual tokens until they are spliced in

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")

IMAGE_QUESTION = "Describe the masked region in detail."
JOINT_IMAGE_QUESTION = "Given the image above, describe the object in the masked region."
JOINT_VIDEO_QUESTION = ("Given the video in the form of a sequence of frames above, "
                        "describe the object in the masked region in the video in detail.")


def make_query(style: str, num_frames: int, question: str | None = None) -> str:
    """A query with one ``<image>`` per frame, as the reference scripts and server build it.

    ``style`` "dam-3b" (image-only checkpoint) takes one frame; "dam-3b-video" (the joint image+video
    checkpoint) prefixes "Image: " for one frame and "Video: " for several (it was trained on 8).
    """
    if style == "dam-3b":
        if num_frames != 1:
            raise ValueError(f"the DAM-3B prompt style describes one image, got {num_frames} frames: "
                             "use a DAM-3B-Video checkpoint (prompt style 'dam-3b-video') or pass a query "
                             f"with {num_frames} {IMAGE_PLACEHOLDER}")
        return f"{IMAGE_PLACEHOLDER}\n{question or IMAGE_QUESTION}"
    if num_frames == 1:
        return f"Image: {IMAGE_PLACEHOLDER}\n{question or JOINT_IMAGE_QUESTION}"
    return f"Video: {IMAGE_PLACEHOLDER * num_frames}\n{question or JOINT_VIDEO_QUESTION}"


def chat_prompt(query: str) -> str:
    """The ``v1`` conversation around a query; nothing follows "ASSISTANT:"."""
    return f"{SYSTEM} USER: {query} ASSISTANT:"


def prompt_ids(tokenizer: DamTokenizer, query: str, num_frames: int) -> list[int]:
    """Ids of the full prompt with ``IMAGE_TOKEN_ID`` per placeholder; each text chunk is tokenized on its own."""
    count = query.count(IMAGE_PLACEHOLDER)
    if count != num_frames:
        raise ValueError(f"the query has {count} {IMAGE_PLACEHOLDER} placeholder(s) but {num_frames} frame(s) "
                         f"were given: use one {IMAGE_PLACEHOLDER} per frame")
    chunks = chat_prompt(query).split(IMAGE_PLACEHOLDER)
    ids = tokenizer.encode(chunks[0])
    for chunk in chunks[1:]:
        chunk_ids = tokenizer.encode(chunk)
        if tokenizer.add_bos:
            chunk_ids = chunk_ids[1:]  # only the first chunk keeps its BOS
        ids += [IMAGE_TOKEN_ID, *chunk_ids]
    return ids
