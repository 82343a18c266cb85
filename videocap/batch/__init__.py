"""Many videos: local worker processes or Ray Data, an index to resume from."""
