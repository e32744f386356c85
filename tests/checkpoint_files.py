"""Checkpoint files made on the fly for the loader tests and the hostile-checkpoint corpus: a tiny random
generator, and NVlabs training pickles written with NVlabs' exact globals (`torch_utils.persistence`,
`dnnlib.util.EasyDict`) by stand-in modules, so no NVlabs code is needed."""
import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

import conftest
from draggan import Generator

TINY_KWARGS = dict(z_dim=16, w_dim=16, c_dim=0, img_resolution=32, img_channels=3,
                   mapping_kwargs={"num_layers": 2},
                   synthesis_kwargs={"channel_base": 256, "channel_max": 16, "num_fp16_res": 2, "conv_clamp": 256})


def tiny_generator(seed: int = 0, img_resolution: int = 32) -> Generator:
    """The TINY_KWARGS generator with every tensor (biases, noise strengths, w_avg too) random, so a loader
    that drops or mixes up a tensor cannot pass by luck."""
    return conftest.tiny_generator(res=img_resolution, seed=seed, dim=16, channel_base=256, channel_max=16,
                                   num_fp16_res=2, perturb=0.3)


def fake_nvlabs_modules(marker):
    """`torch_utils.persistence` and `dnnlib.util` stand-ins, so pickle.dumps writes NVlabs' exact globals.

    The persisted `module_src` would create `marker` if anything executed it.
    """
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # never called by the loader
        raise AssertionError("the loader must not call the real persistence hook")
    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = util.__name__, "EasyDict"
    util.EasyDict = EasyDict

    class Persistent:
        """Pickles as NVlabs' Decorator.__reduce__ does: (_reconstruct_persistent_obj, (meta,))."""

        def __init__(self, class_name, state):
            self.class_name, self.state = class_name, state

        def __reduce__(self):
            meta = dict(type="class", version=6, class_name=self.class_name, state=self.state,
                        module_src=f"open({str(marker)!r}, 'w').write('executed')\nclass {self.class_name}: pass\n")
            return persistence._reconstruct_persistent_obj, (meta,)

    return persistence, util, Persistent


@contextlib.contextmanager
def nvlabs_modules(marker):
    """The stand-in modules installed in `sys.modules` while pickles are written; yields their namespace."""
    persistence, util, Persistent = fake_nvlabs_modules(marker)
    installed = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                 "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    saved = {name: sys.modules.get(name) for name in installed}
    sys.modules.update(installed)
    try:
        yield types.SimpleNamespace(Persistent=Persistent, EasyDict=util.EasyDict, marker=marker)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def persist(nv, module: torch.nn.Module, class_name: str, init_kwargs=None, dtype=None):
    """The `__dict__` NVlabs pickles for a module: torch internals, parameters, buffers, children, attributes."""
    def cast(t):
        return t if dtype is None else t.to(dtype)
    state = {"training": False,
             "_parameters": OrderedDict((k, torch.nn.Parameter(cast(v.detach()), requires_grad=False))
                                        for k, v in module._parameters.items()),
             "_buffers": OrderedDict((k, cast(v)) for k, v in module._buffers.items()),
             "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(),
             "_modules": OrderedDict((k, persist(nv, v, type(v).__name__, dtype=dtype))
                                     for k, v in module._modules.items()),
             "_init_args": (), "_init_kwargs": init_kwargs if init_kwargs is not None else {}}
    for key, value in vars(module).items():  # numpy scalars, as NVlabs' `weight_gain = lr / np.sqrt(n)` are
        if not key.startswith("_") and isinstance(value, (int, float)) and not isinstance(value, bool):
            state[key] = np.float64(value) if isinstance(value, float) else value
    return nv.Persistent(class_name, state)


def easy(nv, kwargs):
    """EasyDicts all the way down, as NVlabs stores init kwargs (anything else is kept as it is)."""
    if not isinstance(kwargs, dict):
        return kwargs
    return nv.EasyDict({k: easy(nv, v) for k, v in kwargs.items()})


def nvlabs_snapshot(nv, G, init_kwargs=None, dtype=None, drop=()):
    """The dict an NVlabs training pickle holds, with `G` as both G and G_ema."""
    init_kwargs = easy(nv, TINY_KWARGS if init_kwargs is None else init_kwargs)
    discriminator = torch.nn.Linear(4, 1)
    snapshot = {"G": persist(nv, G, "Generator", init_kwargs, dtype), "D": persist(nv, discriminator, "Discriminator"),
                "G_ema": persist(nv, G, "Generator", init_kwargs, dtype), "augment_pipe": None,
                "training_set_kwargs": nv.EasyDict(path="ffhq.zip", resolution=np.int64(32), xflip=False,
                                                   mean=np.arange(3, dtype=np.float32))}
    for key in drop:
        del snapshot[key]
    return snapshot


def write_nvlabs_pickle(nv, path, G, init_kwargs=None, protocol=4, dtype=None, drop=()):
    path.write_bytes(pickle.dumps(nvlabs_snapshot(nv, G, init_kwargs, dtype, drop), protocol=protocol))
    return path
