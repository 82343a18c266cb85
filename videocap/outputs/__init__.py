"""What a run writes: the captioned video, subtitles, the report, exports, photos."""
