"""Named pretrained generators, and where their files come from.

`REGISTRY` maps a name (`"ffhq-512"`) to a `ModelSpec`: Hugging Face repo, file name, resolution.
`resolve_source(source)` turns what the user picked into a local file, first match wins:

1. an existing path (any file `load_generator` reads);
2. for a registry name, the environment variable `DRAGGAN_CHECKPOINT_<NAME>` (e.g.
   `DRAGGAN_CHECKPOINT_FFHQ_512=/data/ffhq.pkl`);
3. the checkpoints folder (`$DRAGGAN_CHECKPOINTS`, default `./checkpoints`): `<stem>.safetensors`
   (converted with `python -m draggan.convert`, preferred: safe and fast) or the original `<filename>`;
4. the Hub cache, read with no network: a file fetched ahead of time (at a deployment's build, see
   deploy/) or an earlier download;
5. `huggingface_hub.hf_hub_download` into the Hub cache.

A bundled model (`facades-128`, trained here with `python -m draggan.train`) ships in `draggan/weights/` and
needs none of this: it is what the drag tab opens on when nothing else can be had.

If all of these fail, `ModelNotAvailableError` says which file to put where. The file names and
repos come from the DragGAN project's public mirrors; sizes and hashes could not be checked offline,
so the only check is a floor (`min_bytes`): a file smaller than the fp32 weights of its `G_ema`
is a partial download or an LFS pointer (the Hub client itself checks what it downloads).
`list_models()` gives the app's dropdown choices.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import huggingface_hub

from .errors import CheckpointFormatError, CheckpointNotFoundError, ModelNotAvailableError
from .inversion import InvertConfig
from .session import DragConfig

CHECKPOINT_SUFFIXES = (".pkl", ".pt", ".pth", ".safetensors")
DEFAULT_REPO = "DragGan/DragGan-Models"
BUNDLED_DIR = Path(__file__).resolve().parent / "weights"   # Generators that ship in the repository.


@dataclass(frozen=True)
class ModelSpec:
    name: str                  # Registry name, shown in the app's dropdown.
    filename: str              # File name in the Hub repo, and in the checkpoints folder.
    resolution: int            # Output image size in pixels.
    description: str           # What the model draws, in a visitor's words (the dropdown shows it).
    repo_id: str = DEFAULT_REPO  # Hugging Face Hub repository holding `filename`.
    tensorflow: bool = False   # A TensorFlow pickle: must be converted to PyTorch before we can read it.
    min_bytes: int = 120_000_000  # Floor: fp32 G_ema alone is 120.8 MB (256 px), 123.9 MB (512), 132.7 MB (1024).
    faces: bool = False        # Draws human faces: landmark detection and the expression presets apply.
    bundled: bool = False      # Ships in BUNDLED_DIR: never downloaded.
    drag: DragConfig = field(default_factory=DragConfig)        # This model's drag settings, where the defaults
    invert: InvertConfig = field(default_factory=InvertConfig)  # and its inversion's do not suit it (evidence beside).

    @property
    def env_var(self) -> str:
        """Per-model override, e.g. `DRAGGAN_CHECKPOINT_FFHQ_512`."""
        return "DRAGGAN_CHECKPOINT_" + "".join(c if c.isalnum() else "_" for c in self.name.upper())

    @property
    def converted_name(self) -> str:
        """The file name `python -m draggan.convert` writes by default for this model."""
        return Path(self.filename).stem + ".safetensors"


REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in [  # lions to elephants: self-distilled (DragGAN)
    ModelSpec("ffhq-512", "stylegan2-ffhq-512x512.pkl", 512, "Faces", faces=True),
    ModelSpec("ffhq-1024", "stylegan2-ffhq-1024x1024.pkl", 1024, "Faces, sharper", faces=True),
    ModelSpec("afhqcat-512", "stylegan2-afhqcat-512x512.pkl", 512, "Cat faces"),
    ModelSpec("lions-512", "stylegan2_lions_512_pytorch.pkl", 512, "Lions"),
    ModelSpec("dogs-1024", "stylegan2_dogs_1024_pytorch.pkl", 1024, "Dogs"),
    ModelSpec("horses-256", "stylegan2_horses_256_pytorch.pkl", 256, "Horses"),
    ModelSpec("elephants-512", "stylegan2_elephants_512_pytorch.pkl", 512, "Elephants"),
    ModelSpec("car-512", "stylegan2-car-config-f.pkl", 512, "Cars", tensorflow=True),
    ModelSpec("cat-256", "stylegan2-cat-config-f.pkl", 256, "Cats", tensorflow=True),
    # Its own settings, from `python benchmarks/facades_edit.py drag|invert` (docs/drag.md, 102 kimg): W+ alone moves
    # a window only by redrawing the facade (the window at the target in 16 of 40 drags, 54 % of the pixels keep their
    # class); sliding the 32 px block's output instead (feature_res, warp.py) carries it in 147 of 160 and keeps 91 %.
    # 20 projection steps and the ToRGB fit keep 17.3 dB of the 40 held-out photos; 100 steps and 60 PTI steps at
    # 3e-3 keep 20.8 dB and 1.9x the untrained generator's layout, in 6.8 s; then 100 steps fitting the offset the
    # slide moves keep 33.0 dB and 8.4x (4 s more), though slides from it carry a window in 20 of 40, not 28.
    ModelSpec("facades-128", "facades-128.safetensors", 128, "Facades, trained here", repo_id="", min_bytes=1_000_000,
              bundled=True, drag=DragConfig(feature_res=32),
              invert=InvertConfig(steps=100, pti_steps=60, pti_lr=3e-3, feature_steps=100)),
]}
BUNDLED_MODEL = "facades-128"  # The drag tab's model when no other can be loaded (no download, no network).
MAX_LABEL = 60            # Characters of a dropdown label.


def checkpoints_dir() -> Path:
    """Where local checkpoints live: `$DRAGGAN_CHECKPOINTS`, else `./checkpoints`."""
    return Path(os.environ.get("DRAGGAN_CHECKPOINTS", "checkpoints")).expanduser()


def _local_copy(spec: ModelSpec) -> Path | None:
    override = os.environ.get(spec.env_var)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise CheckpointNotFoundError(f"{spec.env_var}={override}: no such file")
        return path
    for name in (spec.converted_name, spec.filename):
        path = checkpoints_dir() / name
        if path.is_file():
            return path
    return None


def _check_size(spec: ModelSpec, path: Path) -> Path:
    size, floor = path.stat().st_size, spec.min_bytes
    if size < floor:
        raise CheckpointFormatError(f"{path}: only {size:,} bytes, but the weights of '{spec.name}' alone take "
                                    f"{floor:,}; a partial download or an LFS pointer? Delete it and try again")
    return path


def _hub_cached(spec: ModelSpec) -> Path | None:
    """The file in the Hub cache, if there: no request, so a preloaded deployment starts as fast offline as online."""
    cached = huggingface_hub.try_to_load_from_cache(repo_id=spec.repo_id, filename=spec.filename)
    return Path(cached) if isinstance(cached, str) else None


def resolve_checkpoint(spec: ModelSpec) -> Path:
    """A local file for a registry model (see the module docstring for the order), downloading if needed."""
    if spec.bundled:
        path = _local_copy(spec) or BUNDLED_DIR / spec.filename
        if not path.is_file():
            raise ModelNotAvailableError(f"'{spec.name}' ships with the app as {path}, which is missing: restore it "
                                         f"(git checkout -- {path.name}) or train one with python -m draggan.train")
        return _check_size(spec, path)
    local = _local_copy(spec) or (None if spec.tensorflow else _hub_cached(spec))
    if local is not None:
        return _check_size(spec, local)
    where = (f"put {spec.converted_name} or {spec.filename} in {checkpoints_dir()}/ "
             f"(or set DRAGGAN_CHECKPOINTS=/dir), or set {spec.env_var}=/path/to/the/file")
    if spec.tensorflow:
        raise ModelNotAvailableError(
            f"'{spec.name}' ({spec.filename}) is a TensorFlow pickle, which we cannot read: convert it to a "
            f"PyTorch pickle with NVlabs stylegan2-ada-pytorch's legacy.py, then `python -m draggan.convert "
            f"converted.pkl {checkpoints_dir() / spec.converted_name}`; or {where}")
    try:
        downloaded = huggingface_hub.hf_hub_download(repo_id=spec.repo_id, filename=spec.filename)
    except Exception as e:  # offline mode, no network, missing repo or file: all mean "not available"
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
        raise ModelNotAvailableError(
            f"'{spec.name}' is not on disk and could not be downloaded from huggingface.co/{spec.repo_id} "
            f"({reason}). To use it offline, {where}") from e
    return _check_size(spec, Path(downloaded))


def resolve_source(source: str | os.PathLike) -> Path:
    """A local file for a path or a registry name; `CheckpointNotFoundError` if it is neither."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if isinstance(source, str) and source in REGISTRY:
        return resolve_checkpoint(REGISTRY[source])
    if path.is_dir():
        raise CheckpointNotFoundError(f"{path}: is a folder, not a checkpoint file")
    raise CheckpointNotFoundError(f"{source}: no such file, and not a registry name ({', '.join(REGISTRY)})")


def list_models() -> list[str]:
    """Dropdown choices: the loadable registry names, then other checkpoint files in the checkpoints folder."""
    folder = checkpoints_dir()
    local = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES) \
        if folder.is_dir() else []
    known = {name for spec in REGISTRY.values() for name in (spec.filename, spec.converted_name)}
    names = [spec.name for spec in REGISTRY.values()
             if not spec.tensorflow or (folder / spec.converted_name).is_file() or os.environ.get(spec.env_var)]
    return names + [str(p) for p in local if p.name not in known]


def draws_faces(choice: str) -> bool:
    """Whether face landmarks make sense on a model's images: registry models say; a local file may be a face
    model, so the detector decides."""
    spec = REGISTRY.get(choice)
    return spec.faces if spec else True


def drag_config(choice) -> DragConfig:
    """A model's drag settings: its registry entry's (`ModelSpec.drag`), else `DragConfig()` (local files too)."""
    spec = REGISTRY.get(choice) if isinstance(choice, str) else None
    return spec.drag if spec is not None else DragConfig()


def invert_config(choice) -> InvertConfig:
    """A model's inversion settings: its registry entry's (`ModelSpec.invert`), else `InvertConfig()`."""
    spec = REGISTRY.get(choice) if isinstance(choice, str) else None
    return spec.invert if spec is not None else InvertConfig()


def model_label(choice: str) -> str:
    """What the drag tab's dropdown shows for a choice: "Faces (512 px)", or a local file's name."""
    spec = REGISTRY.get(choice)
    label = f"{spec.description} ({spec.resolution} px)" if spec else Path(choice).name
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"
