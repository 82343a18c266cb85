"""Continuous batching (videocap.dam.continuous) on the demo DAM: requests that join a running batch, leave
it, or are cancelled get what they would get alone."""

from __future__ import annotations

import pytest

from videocap.dam.continuous import DecodeBatch, prepare_request
from videocap.dam.records import DamInput
from videocap.synthetic import make_clip


def objects(count: int) -> list[DamInput]:
    """Objects of synthetic clips, alternately as one frame and as eight."""
    items = []
    for seed in range(count):
        clip = make_clip(seed, num_frames=8, num_objects=1)
        (key,) = clip.masks[0]  # the one object
        frames, masks = clip.frames, [m[key] for m in clip.masks]
        items.append(DamInput(frames[:1], masks[:1]) if seed % 2 else DamInput(frames, masks))
    return items


def run(batch: DecodeBatch, requests, joins: dict[int, list]) -> dict:
    """Step ``batch`` until every request ended, admitting ``joins[step]`` at each step; texts and finishes."""
    texts, finishes, step = {}, {}, 0
    pending = [r for group in joins.values() for r in group]
    while len(finishes) < len(pending):
        events = batch.admit(joins.get(step, [])) + batch.advance()
        for event in events:
            texts[id(event.request)] = texts.get(id(event.request), "") + event.text
            if event.finish:
                finishes[id(event.request)] = event.finish
        step += 1
        assert step < 200
    return {"texts": [texts[id(r)] for r in requests], "finishes": [finishes[id(r)] for r in requests]}


def test_requests_joining_mid_decode_get_their_single_greedy_answers(dam):
    items = objects(6)
    requests = [prepare_request(dam, item, 32, 0.0, 1.0) for item in items]
    batch = DecodeBatch(dam, max_rows=4)
    result = run(batch, requests, {0: requests[:2], 2: requests[2:4], 5: requests[4:5], 9: requests[5:]})
    for item, request, text in zip(items, requests, result["texts"], strict=True):
        single = dam.generate_ids(item.frames, item.masks, max_new_tokens=32)
        assert request.ids == single
        assert text == dam.describe(item.frames, item.masks, temperature=0.0)
        assert text.endswith(".")
    assert set(result["finishes"]) == {"stop"}
    assert batch.rows == [] and batch.cache is None


def test_a_seeded_sampled_row_equals_describe_with_that_seed(dam):
    items = objects(3)
    requests = [prepare_request(dam, item, 32, 0.8, 0.9, seed=7 + n) for n, item in enumerate(items)]
    result = run(DecodeBatch(dam, max_rows=3), requests, {0: requests[:1], 1: requests[1:]})
    for n, (item, text) in enumerate(zip(items, result["texts"], strict=True)):
        assert text == dam.describe(item.frames, item.masks, temperature=0.8, top_p=0.9, seed=7 + n)


def test_a_token_budget_ends_with_length_and_a_cancelled_row_leaves_at_once(dam):
    items = objects(3)
    short = prepare_request(dam, items[0], 3, 0.0, 1.0)
    cancelled = prepare_request(dam, items[1], 32, 0.0, 1.0)
    other = prepare_request(dam, items[2], 32, 0.0, 1.0)
    batch = DecodeBatch(dam, max_rows=3)
    batch.admit([short, cancelled, other])
    cancelled.cancelled = True
    events = batch.advance()
    assert cancelled not in [e.request for e in events] and len(batch.rows) == 2
    while batch.rows:
        events += batch.advance()
    assert len(short.ids) == 3 and [e.finish for e in events if e.request is short] == [None, "length"]
    assert other.ids == dam.generate_ids(items[2].frames, items[2].masks, max_new_tokens=32)
    assert len(cancelled.ids) == 1


def test_more_requests_than_free_rows_is_refused(dam):
    request = prepare_request(dam, objects(1)[0], 4, 0.0, 1.0)
    with pytest.raises(ValueError, match="free rows"):
        DecodeBatch(dam, max_rows=0).admit([request])
