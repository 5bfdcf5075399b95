"""Beyond the paper, off by default: mechanisms from related CLIP papers that train.py's flags switch on.

fusion.py (GLE-CLIP's cross-attention, FGAseg's pixel-text alignment and the alignment heads), losses.py (their
loss terms), prompts.py (prompt templates, per-class template selection, CoOp's learned context). The paper's
model (the top-level files) never needs them; model.py builds them only when its config asks.
"""
