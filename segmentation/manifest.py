"""The shipped models' manifest, ``weights/models.json``: each model's file and label, and which is the default.

    from segmentation.manifest import list_models
    for m in list_models(): print(m.name, m.label, m.default)

`segmentation.ship` adds or replaces entries with `merge_models`; the others stay listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "models.json"


@dataclass(frozen=True)
class ShippedModel:
    name: str        # What load_model and /segment take.
    label: str       # What a user reads in the model menu.
    default: bool    # The one with the better validation mIoU.
    path: Path       # Its .safetensors file (json beside it).


def list_models() -> list[ShippedModel]:
    """The shipped models, as listed in ``weights/models.json``, the default first."""
    try:
        manifest = json.loads(MANIFEST.read_text())
        models = [ShippedModel(n, m["label"], n == manifest["default"], WEIGHTS_DIR / m["file"])
                  for n, m in manifest["models"].items()]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{MANIFEST}: not a readable model list ({err})") from err
    return sorted(models, key=lambda m: not m.default)


def model_path(name: str | Path | None = None) -> Path:
    """The weights file of a shipped model name (None = the default), or ``name`` itself if it is a path."""
    if name is not None and (str(name).endswith(".safetensors") or Path(name).is_file()):
        return Path(name)
    models = list_models()
    if name is None:
        return models[0].path
    for m in models:
        if m.name == str(name):
            return m.path
    raise ValueError(f"unknown segmentation model {str(name)!r}; shipped: {', '.join(m.name for m in models)}")


def merge_models(entries: dict[str, dict], manifest: Path = MANIFEST) -> dict:
    """Add or replace `entries` ({name: {"file", "label", "val_miou"}}) in the manifest, keeping the models it
    already lists; the one with the best validation mIoU becomes the default. Returns the manifest written."""
    try:
        models = json.loads(manifest.read_text())["models"] if manifest.is_file() else {}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{manifest}: not a readable model list ({err}); fix or remove it first") from err
    models = {**models, **entries}
    written = {"default": max(models, key=lambda n: models[n]["val_miou"]), "models": models}
    manifest.write_text(json.dumps(written, indent=1) + "\n")
    return written
