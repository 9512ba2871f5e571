"""The one place for normalisation, class names and palette.

The Swift runner reads the same values from the exported model's metadata
(see export.metadata()), so changing them here changes them everywhere.
"""
import os


# ImageNet statistics on the 0-255 scale, RGB order: x = (pixel - MEAN) / STD.
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)

CLASS_NAMES = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)
# CamVid colours from the dataset README, index = class id.
PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
    (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
    (64, 0, 128), (64, 64, 0), (0, 128, 192),
)
VOID_LABEL = 11  # ignored in loss and metrics
VOID_COLOUR = (0, 0, 0)
NUM_CLASSES = len(CLASS_NAMES)

INPUT_SIZE = (360, 480)  # default network input, H x W (CamVid frames as they are)

# shared/ sits beside the checkout (Training/eprnet/ -> repo -> its parent); EPR_CAMVID overrides.
DATASET_ROOT = os.environ.get("EPR_CAMVID") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets", "camvid"))


def metadata(model_name):
    """Key/value strings the exported model carries (ONNX metadata_props, IR rt_info)."""
    def nums(v):
        return ",".join(repr(float(x)) for x in v)
    return {
        "model_name": model_name,
        "mean": nums(MEAN),
        "std": nums(STD),
        "class_names": ",".join(CLASS_NAMES),
        "palette": ";".join(",".join(str(c) for c in rgb) for rgb in PALETTE),
        "input_size": "%dx%d" % INPUT_SIZE,
        "void_label": str(VOID_LABEL),
        "num_classes": str(NUM_CLASSES),
    }
