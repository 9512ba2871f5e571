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

# Cityscapes' 19 evaluation classes (train ids 0..18) and their official colours; every other
# label id is ignored (255). Normalisation is the same ImageNet mean/std (the authors' BGR
# values are these in RGB order).
CITYSCAPES_NAMES = (
    "Road", "Sidewalk", "Building", "Wall", "Fence", "Pole", "TrafficLight", "TrafficSign",
    "Vegetation", "Terrain", "Sky", "Person", "Rider", "Car", "Truck", "Bus", "Train",
    "Motorcycle", "Bicycle",
)
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
# gtFine *_labelIds.png id -> train id (cityscapesScripts' labels.py); ids not listed -> 255.
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                        24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_IGNORE = 255


class LabelSet:
    """What a dataset's labels mean: class names, colours, the ignored label, the default
    network input (H, W) of models trained on it, and where the data is by default."""

    def __init__(self, name, title, class_names, palette, void_label, input_size, root):
        self.name, self.title, self.class_names, self.palette = name, title, class_names, palette
        self.void_label, self.input_size, self.root = void_label, input_size, root
        self.num_classes = len(class_names)


# shared/ sits beside the checkout (Training/eprnet/ -> repo -> its parent); EPR_CAMVID overrides.
DATASET_ROOT = os.environ.get("EPR_CAMVID") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets", "camvid"))


_SHARED = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets"))
CAMVID = LabelSet("camvid", "CamVid", CLASS_NAMES, PALETTE, VOID_LABEL, INPUT_SIZE, DATASET_ROOT)
CITYSCAPES = LabelSet("cityscapes", "Cityscapes", CITYSCAPES_NAMES, CITYSCAPES_PALETTE, CITYSCAPES_IGNORE, (512, 1024),
                      os.environ.get("EPR_CITYSCAPES") or os.path.join(_SHARED, "cityscapes"))
DATASETS = {d.name: d for d in (CAMVID, CITYSCAPES)}


def metadata(model_name, labels=CAMVID):
    """Key/value strings the exported model carries (ONNX metadata_props, IR rt_info)."""
    def nums(v):
        return ",".join(repr(float(x)) for x in v)
    return {
        "model_name": model_name,
        "mean": nums(MEAN),
        "std": nums(STD),
        "class_names": ",".join(labels.class_names),
        "palette": ";".join(",".join(str(c) for c in rgb) for rgb in labels.palette),
        "input_size": "%dx%d" % labels.input_size,
        "void_label": str(labels.void_label),
        "num_classes": str(labels.num_classes),
        "dataset": labels.name,
    }
