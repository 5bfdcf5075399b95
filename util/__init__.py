"""Plumbing the commands share; no paper section.

files.py (atomic writes, list files, verified downloads), checkpoint.py (safe checkpoint writes and reads, the
shareable model.pt), reproducibility.py (seeds, RNG state, DDP, the run record), inference.py (batched inference,
mixed precision, the device), plots.py (pictures: edges by class, PR curves, training curves).
"""
