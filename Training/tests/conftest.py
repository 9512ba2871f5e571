import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from eprnet.constants import DATASET_ROOT  # noqa: E402

needs_camvid = pytest.mark.skipif(not os.path.exists(os.path.join(DATASET_ROOT, "train.txt")),
                                  reason="CamVid not at %s" % DATASET_ROOT)


@pytest.fixture(autouse=True, scope="session")
def _threads():
    try:
        import torch
        torch.set_num_threads(1)  # robust when the 2 cores are shared (see README)
    except ImportError:
        pass
