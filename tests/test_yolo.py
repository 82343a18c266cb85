"""`videocap.segment.yolo`: the ultralytics edge: loading, class names."""

from __future__ import annotations

import pytest

from videocap.errors import UserError
from videocap.segment.yolo import class_ids_for


def test_unknown_class_lists_close_matches(tracker):
    with pytest.raises(UserError, match="did you mean circle"):
        class_ids_for(tracker.names, ["circel"])
    assert class_ids_for(tracker.names, ["Star", "circle", "star"]) == [3, 0]
