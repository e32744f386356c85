"""segmentation.manifest: shipping one model adds or replaces it in models.json and keeps the others."""
import json

import pytest

from segmentation.manifest import merge_models


def test_shipping_one_model_keeps_the_others(tmp_path):
    manifest = tmp_path / "models.json"
    merge_models({"ce": {"file": "ce.safetensors", "label": "CE", "val_miou": 0.29},
                  "cgan": {"file": "cgan.safetensors", "label": "GAN", "val_miou": 0.27}}, manifest)
    written = merge_models({"cgan": {"file": "cgan.safetensors", "label": "GAN 2", "val_miou": 0.31}}, manifest)
    assert json.loads(manifest.read_text()) == written
    assert set(written["models"]) == {"ce", "cgan"} and written["models"]["cgan"]["label"] == "GAN 2"
    assert written["default"] == "cgan"  # now the best validation mIoU
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable model list"):
        merge_models({}, manifest)
