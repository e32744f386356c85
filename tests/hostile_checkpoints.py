"""A corpus of hostile and malformed generator checkpoints, made on the fly (nothing binary in the repo).

Each file is small (at most a few hundred KB) but built to break a naive loader: configs that ask for
gigabytes or carry wrong types, weights that are not tensors, not finite, or zero-stride views that
claim billions of values, truncated files, code-running pickles. `write_corpus(folder)` writes them all and
returns their paths; every one must be refused with a `CheckpointError` that names it
(tests/test_hostile_checkpoints.py), using little memory (benchmarks/hostile_checkpoints.py).
"""
import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from checkpoint_files import TINY_KWARGS, nvlabs_modules, nvlabs_snapshot, tiny_generator, write_nvlabs_pickle


def _tiny_state(**overrides) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in tiny_generator(**overrides).state_dict().items()}


def _safetensors(path: Path, config, state=None) -> None:
    """`state` (default: one 2-value tensor) with `config` as the embedded generator config."""
    state = {"mapping.w_avg": torch.zeros(2)} if state is None else state
    save_file(state, str(path), metadata={"draggan_config": config if isinstance(config, str) else json.dumps(config)})


def _with(**changes) -> dict:
    """TINY_KWARGS with top-level or nested ('synthesis_kwargs.channel_base') fields replaced."""
    kwargs = json.loads(json.dumps(TINY_KWARGS))
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        target = kwargs
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return {"init_kwargs": kwargs}


CONFIG_CASES = {  # safetensors files whose embedded config is hostile; the weights are a single small tensor
    "resolution_32768": _with(img_resolution=32768),
    "resolution_not_power_of_two": _with(img_resolution=500),
    "string_channel_base": _with(synthesis_kwargs__channel_base="32768"),
    "negative_z_dim": _with(z_dim=-512),
    "z_dim_300_digits": _with(z_dim=10 ** 300),
    "boolean_w_dim": _with(w_dim=True),
    "float_resolution": _with(img_resolution=512.5),
    "channel_max_million": _with(synthesis_kwargs__channel_max=1_000_000),
    "channel_base_zero": _with(synthesis_kwargs__channel_base=0),
    "mapping_layers_million": _with(mapping_kwargs__num_layers=1_000_000),
    "nan_lr_multiplier": _with(mapping_kwargs__lr_multiplier=float("nan")),
    "conv_clamp_string": _with(synthesis_kwargs__conv_clamp="none"),
    "conditional": _with(c_dim=10),
    "resnet_architecture": _with(synthesis_kwargs__architecture="resnet"),
    "in_range_but_12_gb": _with(img_resolution=4096, synthesis_kwargs__channel_base=4096 * 4096,
                                synthesis_kwargs__channel_max=4096),
    "init_kwargs_a_list": {"init_kwargs": [["z_dim", 512], ["img_resolution", 512]]},
    "synthesis_kwargs_a_list": _with(synthesis_kwargs=[1, 2, 3]),
    "config_a_number": 42,
    "missing_resolution": {"init_kwargs": {"z_dim": 16, "w_dim": 16}},
    "config_not_json": "{'z_dim': 512,",
    "config_nested_100k_deep": "[" * 100_000 + "]" * 100_000,
}


def _weights_cases(folder: Path) -> list[Path]:
    """Right config, wrong weights."""
    good = _tiny_state()
    cases = {
        "all_nan": {k: torch.full_like(v, float("nan")) for k, v in good.items()},
        "one_inf": {**good, "synthesis.b32.torgb.bias": torch.tensor([1.0, float("inf"), 0.0])},
        "int64_weights": {**good, "mapping.fc0.weight": good["mapping.fc0.weight"].long()},
        "wrong_shapes": {**good, "synthesis.b8.conv0.weight": torch.zeros(3, 3, 3, 3)},
        "fp16_style_weight_wrong_shape": {**good, "synthesis.b4.conv1.affine.weight": torch.zeros(7, dtype=torch.float16)},
    }
    paths = []
    for name, state in cases.items():
        _safetensors(folder / f"{name}.safetensors", {"init_kwargs": TINY_KWARGS}, state)
        paths.append(folder / f"{name}.safetensors")
    return paths


def _rosinality_cases(folder: Path) -> list[Path]:
    """rosinality-style `.pt` files (torch zip) with bad `g_ema` entries."""
    expanded = torch.zeros(1).expand(512, 100_000_000)  # 51 G values from a 4-byte storage
    cases = {
        "rosinality_non_tensor_entries": {"g_ema": {"input.input": [[1.0]], "style.1.weight": "weights"}},
        "rosinality_fp16_style_weight_1d": {"g_ema": {"input.input": torch.zeros(1, 4, 4, 4),
                                                      "style.1.weight": torch.zeros(16, dtype=torch.float16)}},
        "rosinality_zero_stride_51g_values": {"g_ema": {"input.input": torch.zeros(1, 4, 4, 4),
                                                        "style.1.weight": expanded}},
        "rosinality_g_ema_a_list": {"g_ema": [1, 2, 3]},
    }
    paths = []
    for name, ckpt in cases.items():
        torch.save(ckpt, folder / f"{name}.pt")
        paths.append(folder / f"{name}.pt")
    return paths


class _Exploit:
    def __reduce__(self):
        return os.system, ("echo pwned",)


def _pickle_cases(folder: Path) -> list[Path]:
    """NVlabs training pickles with hostile init kwargs or state."""
    G = tiny_generator()
    paths = []
    with nvlabs_modules(folder / "module_src_was_executed") as nv:
        for name, init_kwargs in [("pickle_resolution_32768", _with(img_resolution=32768)["init_kwargs"]),
                                  ("pickle_init_kwargs_a_list", [1, 2]),
                                  ("pickle_string_z_dim", _with(z_dim="512")["init_kwargs"])]:
            paths.append(write_nvlabs_pickle(nv, folder / f"{name}.pkl", G, init_kwargs=init_kwargs))
        snapshot = nvlabs_snapshot(nv, G)
        mapping = snapshot["G_ema"].state["_modules"]["mapping"].state
        mapping["_parameters"] = ["not", "a", "dict"]
        paths.append(folder / "pickle_parameters_a_list.pkl")
        paths[-1].write_bytes(pickle.dumps(snapshot))
        snapshot = nvlabs_snapshot(nv, G)
        snapshot["G_ema"].state["_modules"]["mapping"].state["_buffers"]["w_avg"] = torch.zeros(1).expand(10 ** 10)
        paths.append(folder / "pickle_zero_stride_10g_values.pkl")
        paths[-1].write_bytes(pickle.dumps(snapshot))
        snapshot = nvlabs_snapshot(nv, G)
        snapshot["G_ema"].state["evil"] = _Exploit()
        paths.append(folder / "pickle_runs_os_system.pkl")
        paths[-1].write_bytes(pickle.dumps(snapshot))
    return paths


def _truncated_and_garbage(folder: Path, complete: list[Path]) -> list[Path]:
    paths = []
    for source in complete:
        data = source.read_bytes()
        for fraction in (0.1, 0.5, 0.9):
            path = folder / f"truncated_{int(fraction * 100)}pct_{source.name}"
            path.write_bytes(data[: int(len(data) * fraction)])
            paths.append(path)
    for name, data in [("empty.pkl", b""), ("random_bytes.pt", np.random.RandomState(0).bytes(4096)),
                       ("png_named.pkl", b"\x89PNG\r\n\x1a\n" + bytes(64)),
                       ("safetensors_header_too_long.safetensors", (10 ** 12).to_bytes(8, "little") + b"{}")]:
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def write_corpus(folder: str | os.PathLike) -> list[Path]:
    """Write every hostile checkpoint into `folder`; returns their paths (about 50 files, under 2 MB in all)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, config in CONFIG_CASES.items():
        _safetensors(folder / f"{name}.safetensors", config)
        paths.append(folder / f"{name}.safetensors")
    paths += _weights_cases(folder) + _rosinality_cases(folder) + _pickle_cases(folder)
    complete = [folder / "complete.safetensors", folder / "complete.pkl", folder / "complete.pt"]
    _safetensors(complete[0], {"init_kwargs": TINY_KWARGS}, _tiny_state())
    with nvlabs_modules(folder / "module_src_was_executed") as nv:
        write_nvlabs_pickle(nv, complete[1], tiny_generator())
    torch.save({"g_ema": {"style.1.weight": torch.zeros(16, 16), "input.input": torch.zeros(1, 16, 4, 4)}},
               complete[2])
    paths += _truncated_and_garbage(folder, complete)
    for path in complete:
        path.unlink()
    return paths
