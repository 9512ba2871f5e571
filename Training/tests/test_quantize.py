"""int8 path: runs quantize.py in the torch-free OpenVINO venv (../.venv-ov), as `make quantize` does."""
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import needs_camvid
from test_export import randomized
from eprnet.constants import metadata
from eprnet.export import export_onnx

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OV_PY = os.path.join(HERE, "..", ".venv-ov", "bin", "python")


@needs_camvid
@pytest.mark.skipif(not os.path.exists(OV_PY), reason="no ../.venv-ov (openvino + nncf)")
def test_quantize_writes_ir_with_metadata(tmp_path):
    onnx_path, xml = str(tmp_path / "m.onnx"), str(tmp_path / "m-int8.xml")
    export_onnx(randomized("eprnet"), onnx_path, "eprnet-test")
    env = dict(os.environ, PYTHONPATH=HERE)
    r = subprocess.run([OV_PY, "-m", "eprnet.quantize", "--onnx", onnx_path, "--out", xml,
                        "--calib", "4", "--skip-eval"], cwd=HERE, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    root = ET.parse(xml).getroot()
    info = {e.tag: e.get("value") for e in root.find("rt_info").find("eprstream")}
    for k, v in metadata("x").items():
        if k != "model_name":
            assert info[k] == v
    assert info["model_name"] == "eprnet-test-int8" and info["precision"] == "int8"
    assert any(l.get("type") == "FakeQuantize" for l in root.iter("layer"))


@pytest.mark.skipif(not os.path.exists(OV_PY), reason="no ../.venv-ov (openvino + nncf)")
def test_quantize_calibrates_a_cityscapes_model_on_cityscapes(tmp_path):
    import torch
    from eprnet.constants import CITYSCAPES
    from eprnet.model import build
    from test_cityscapes import make_tree
    tree = make_tree(str(tmp_path / "cityscapes"), counts={"train": ("ulm", 2)})
    torch.manual_seed(0)
    onnx_path, xml = str(tmp_path / "c.onnx"), str(tmp_path / "c-int8.xml")
    export_onnx(build("eprnet", 19).eval(), onnx_path, "eprnet-cityscapes", dataset="cityscapes")
    env = dict(os.environ, PYTHONPATH=HERE)
    r = subprocess.run([OV_PY, "-m", "eprnet.quantize", "--onnx", onnx_path, "--out", xml, "--data", tree,
                        "--calib", "2", "--skip-eval"], cwd=HERE, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    info = {e.tag: e.get("value") for e in ET.parse(xml).getroot().find("rt_info").find("eprstream")}
    assert info["dataset"] == "cityscapes" and info["num_classes"] == "19"
    assert info["class_names"] == ",".join(CITYSCAPES.class_names)
    assert info["calibration"].endswith("2 Cityscapes train frames at 512x1024")
