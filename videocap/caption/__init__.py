"""Captioning: keyframes per track, caption jobs, DAM batches (also while tracking goes on)."""
