"""``videocap serve``: DAM behind an OpenAI-compatible HTTP API (requests batched together as they come,
``videocap.dam.continuous``) and a jobs API that captions whole videos through the pipeline."""
