"""Caption quality measures: DLC-Bench scored as NVIDIA's evaluator scores it (``dlc_bench``), and
reference-caption metrics for video objects (``caption_metrics``, ``videorefer``)."""
