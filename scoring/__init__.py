"""The parts of the ODS benchmark (paper Sec. 4.1.3) that metrics.py assembles, and the training-time score.

thinning.py (MATLAB's bwmorph thin), matching.py (one-to-one matching within the tolerance), counts.py (the four
counts per threshold and the recall / precision / F formulas), validation.py (the fast APPROXIMATE F that
train.py uses to pick checkpoints: not the benchmark).
"""
