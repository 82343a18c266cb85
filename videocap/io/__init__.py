"""Reading and writing files: video decoding and encoding, atomic files, the frame store, staged output folders."""
