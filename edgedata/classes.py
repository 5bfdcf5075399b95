"""The paper's two datasets by name: class lists, Cityscapes label ids, image names (paper Sec. 4.1.1).

SBD: the 20 PASCAL VOC classes; Cityscapes: the 19 evaluated classes (train ids 0..18) of cityscapesScripts'
`labels.py`, labelIds 2 and 3 ignored as SEAL's `demoGenGT.m` does. datasets.py (the readers) and
edgedata/converters.py (prepare.py's converters) both read them from here.
"""
import os

SBD_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
CITYSCAPES_CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                      "motorcycle", "bicycle"]
# Cityscapes labelId -> trainId (cityscapesScripts labels.py); every other labelId is "no class" (trainId 255).
CITYSCAPES_LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                             25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_IGNORE_LABELS = (2, 3)  # "rectification border", "out of roi": pairs with them make no edge (SEAL)


def image_name(path):
    name = os.path.splitext(os.path.basename(path))[0]
    return name[:-len("_leftImg8bit")] if name.endswith("_leftImg8bit") else name
