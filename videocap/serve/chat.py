"""The OpenAI chat-completions format as DAM takes it, in NVIDIA's reference server's dialect.

A request's user messages hold the frames as ``image_url`` data URLs (RGBA PNG: the alpha channel is the
region, non-zero = the object) and the query as text; several images are a video's frames. The query is
cleaned as the reference cleans it (an "Image:"/"Video:" prefix and leading ``<image>`` tags dropped: the
server adds them itself); an empty query asks the checkpoint's own question. Two extensions give the region
otherwise: ``masks`` (one data URL per image, non-zero = the object) and ``region`` (``{"points": [[x, y],
...], "labels": [1, 0, ...]}`` or ``{"box": [x1, y1, x2, y2]}``, in pixels of every image), which the
server's segmenter turns into each image's mask.

Answers follow OpenAI's shapes (``chat.completion``, ``chat.completion.chunk`` events, ``usage``); on the
reference's path a streamed piece is a list of text parts, as the reference sends it, so that its example
clients work unchanged.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from videocap.errors import UserError
from videocap.io.files import open_image
from videocap.prompts import RegionPrompt
from videocap.serve.errors import ApiError

MODEL_ALIAS = "describe_anything_model"  # the reference's name for "whichever model is served"
DATA_URL = re.compile(r"^data:image/(png|jpe?g|webp);base64,(.*)$", re.DOTALL)
IMAGE_TAG = "<image>"


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageUrl(_Body):
    url: str


class ContentPart(_Body):
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[tuple[float, float]] | None = Field(None, min_length=1)
    labels: list[int] | None = None
    box: tuple[float, float, float, float] | None = None


class StreamOptions(_Body):
    include_usage: bool = False


class ChatBody(_Body):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1)
    masks: list[str] | None = None
    region: Region | None = None


@dataclass(frozen=True)
class Sampling:
    """The server's defaults and bounds for what a request may leave out."""

    temperature: float
    top_p: float
    max_tokens: int
    max_tokens_limit: int


@dataclass
class ChatCall:
    """A parsed request: RGB frames, each one's mask (None: from ``region``), the question, how to sample."""

    model: str
    frames: list[np.ndarray]
    masks: list[np.ndarray | None]
    region: RegionPrompt | None
    question: str | None
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stream: bool
    include_usage: bool


def parse_chat(data: object, sampling: Sampling) -> ChatCall:
    """A ``ChatCall`` from a request's JSON, or a 400 ``ApiError`` naming the field at fault."""
    try:
        body = ChatBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}", param=where) from None
    images, query = _user_content(body.messages)
    if not images:
        raise ApiError(400, "no image in the messages: send each frame as an image_url part (an RGBA PNG data URL "
                       "whose alpha channel marks the object)", param="messages")
    rgba = [_decode_image(url, f"image {n + 1}") for n, url in enumerate(images)]
    masks = _explicit_masks(body.masks, rgba)
    max_tokens = body.max_completion_tokens or body.max_tokens or sampling.max_tokens
    if max_tokens > sampling.max_tokens_limit:
        raise ApiError(400, f"max_tokens {max_tokens} is above this server's limit of {sampling.max_tokens_limit}",
                       param="max_tokens")
    return ChatCall(
        model=body.model, frames=[np.asarray(img.convert("RGB")) for img in rgba],
        masks=[m if m is not None else _alpha_mask(img, n, body.region) for n, (img, m) in enumerate(zip(rgba, masks))],
        region=region_prompt(body.region), question=_clean_query(query), max_new_tokens=max_tokens,
        temperature=sampling.temperature if body.temperature is None else body.temperature,
        top_p=sampling.top_p if body.top_p is None else body.top_p, seed=body.seed, stream=body.stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage))


def _user_content(messages: list[Message]) -> tuple[list[str], str]:
    """The image URLs and the text of the user messages, in order (the reference ignores the others)."""
    images, text = [], ""
    for message in messages:
        if message.role != "user" or message.content is None:
            continue
        if isinstance(message.content, str):
            text += message.content
            continue
        for part in message.content:
            if part.type == "text":
                text += part.text or ""
            elif part.image_url is None:
                raise ApiError(400, "an image_url part without its image_url", param="messages")
            else:
                images.append(part.image_url.url)
    return images, text


def _decode_image(url: str, what: str) -> Image.Image:
    match = DATA_URL.match(url)
    if match is None:
        shown = url[:40] + ("..." if len(url) > 40 else "")
        raise ApiError(400, f"{what}: {shown!r} is not a data URL of a PNG, JPEG or WebP image (data:image/png;base64,"
                       "...); this server fetches nothing from the network", param="messages")
    try:
        raw = base64.b64decode(match.group(2), validate=False)
        img = open_image(io.BytesIO(raw))
        img.load()
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"{what}: the base64 data does not decode ({exc})", param="messages") from None
    except UserError as exc:
        raise ApiError(400, f"{what}: {str(exc).split(': ', 1)[-1]}", param="messages") from None
    except OSError:
        raise ApiError(400, f"{what}: not a readable {match.group(1).upper()} image", param="messages") from None
    return img


def _explicit_masks(urls: list[str] | None, images: list[Image.Image]) -> list[np.ndarray | None]:
    if urls is None:
        return [None] * len(images)
    if len(urls) != len(images):
        raise ApiError(400, f"masks: {len(urls)} masks for {len(images)} images: give one per image", param="masks")
    masks = []
    for n, (url, image) in enumerate(zip(urls, images)):
        img = _decode_image(url, f"mask {n + 1}")
        if img.size != image.size:
            raise ApiError(400, f"mask {n + 1}: {img.width}x{img.height}, but image {n + 1} is {image.width}x"
                           f"{image.height}: give masks the size of their images", param="masks")
        masks.append(_nonempty(np.asarray(img.convert("L")) > 0, f"mask {n + 1}", "all zero"))
    return masks


def _alpha_mask(img: Image.Image, n: int, region: Region | None) -> np.ndarray | None:
    """The region an image carries in its alpha channel; None when ``region`` gives it instead."""
    if region is not None:
        return None
    if "A" not in img.getbands() and not (img.mode == "P" and "transparency" in img.info):
        raise ApiError(400, f"image {n + 1} has no region: it is {img.mode}, without an alpha channel; send an RGBA "
                       "PNG whose alpha marks the object (non-zero inside), or give `masks` or a `region`",
                       param="messages")
    return _nonempty(np.asarray(img.convert("RGBA"))[..., 3] > 0, f"image {n + 1}", "its alpha channel is all 0")


def _nonempty(mask: np.ndarray, what: str, why: str) -> np.ndarray:
    if not mask.any():
        raise ApiError(400, f"{what} has no region: {why}; mark the object with non-zero values", param="messages")
    return mask


def region_prompt(region: Region | None) -> RegionPrompt | None:
    if region is None:
        return None
    if (region.points is None) == (region.box is None):
        raise ApiError(400, "region: give either points or a box", param="region")
    if region.box is not None:
        x1, y1, x2, y2 = region.box
        if not (x2 > x1 and y2 > y1):
            raise ApiError(400, "region.box: give [x1, y1, x2, y2] with x2 > x1 and y2 > y1", param="region")
        return RegionPrompt("box", box=region.box)
    labels = region.labels if region.labels is not None else [1] * len(region.points)
    if len(labels) != len(region.points) or any(label not in (0, 1) for label in labels) or 1 not in labels:
        raise ApiError(400, "region.labels: one per point, 1 on the object or 0 for the background, at least one 1",
                       param="region")
    return RegionPrompt("points", points=tuple(tuple(p) for p in region.points), point_labels=tuple(labels))


def _clean_query(query: str) -> str | None:
    """The question as the reference takes it: prefix and leading image tags dropped; None when empty."""
    query = query.strip().removeprefix("Image:").removeprefix("Video:").strip()
    while query.startswith(IMAGE_TAG):
        query = query.removeprefix(IMAGE_TAG)
    if IMAGE_TAG in query:
        raise ApiError(400, f"the query has {IMAGE_TAG} after its start: send the frames as image_url parts and the "
                       "question as text; the server places the frames itself", param="messages")
    return query.strip() or None


# -- answers --

def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion(call_id: str, model: str, text: str, finish: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": call_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                         "logprobs": None}],
            "usage": usage(prompt_tokens, completion_tokens)}


def chunk(call_id: str, model: str, created: int, delta: dict, finish: str | None = None,
          text_parts: bool = False) -> dict:
    """One streamed event; ``text_parts``: the content as the reference sends it, a list of text parts."""
    if text_parts and "content" in delta:
        delta = {**delta, "content": [{"type": "text", "text": delta["content"]}] if delta["content"] else []}
    return {"id": call_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def usage_chunk(call_id: str, model: str, created: int, prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": call_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": usage(prompt_tokens, completion_tokens)}
