"""The data side below datasets.py: labels, conversion, augmentation, the synthetic scenes (paper Sec. 4.1).

classes.py (the class lists of SBD and Cityscapes), labels.py (SEAL's mask-to-edge rule and the packed label
codec), converters.py (SBD and Cityscapes -> the SEAL layout, run by prepare.py), transforms.py (augmentation and
tiling, Sec. 4.1.2), synthetic.py (the built-in dataset for CPU runs and tests).
"""
