"""DAM's sampling defaults: those of NVIDIA's reference (``get_description``). A module of its own, importing
nothing, so that the settings and the command line's help take them without loading transformers."""

TEMPERATURE = 0.2
TOP_P = 0.5
MAX_NEW_TOKENS = 512
