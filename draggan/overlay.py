"""Overlay: what an inversion changed in a generator, kept apart from it and applied on top of it.

Why: one generator is shared by every visitor, and the default tuning (the ToRGB fit) changes only its
ToRGB layers, about 9,000 numbers at 512 px. An inverted photo therefore keeps its latent and this
overlay (36 KB) rather than a copy of the generator (~124 MB). `overlay.on(G)` is a Generator whose
tensors are G's own except the overlay's, so it renders and drags exactly as a tuned copy would, at the
cost of the overlay alone. PTI changes every synthesis layer: its overlay holds them all (a copy's worth).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .networks import Generator


@dataclass(frozen=True)
class Overlay:
    """Tensors that replace G's, by state-dict name (`synthesis.b64.torgb.weight`); empty: G itself."""
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, tuned: Generator, names) -> Overlay:
        """The tensors `names` of a tuned generator, detached from it."""
        state = tuned.state_dict()
        return cls({name: state[name].detach() for name in names})

    def __or__(self, later: Overlay) -> Overlay:
        """This overlay with `later`'s tensors on top (PTI, then a fit of its ToRGB layers)."""
        return Overlay({**self.tensors, **later.tensors})

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    @property
    def only_torgb(self) -> bool:
        """Whether G's features are untouched (the fit alone): then the overlay costs next to nothing."""
        return all(".torgb." in name for name in self.tensors)

    def on(self, G: Generator) -> Generator:
        """A generator that shares every tensor of G but the overlay's (G itself for an empty overlay); eval mode,
        no gradients. G is not changed. A name G does not have, or a shape it does not take, raises ValueError."""
        if not self.tensors:
            return G
        state = G.state_dict()
        for name, tensor in self.tensors.items():
            if name not in state or state[name].shape != tensor.shape:
                raise ValueError(f"the tuning's {name} {list(tensor.shape)} does not fit this generator "
                                 f"({list(state[name].shape) if name in state else 'no such tensor'})")
            state[name] = tensor.to(state[name].device, state[name].dtype)
        with torch.device("meta"):
            view = Generator(G.config)
        view.load_state_dict(state, strict=True, assign=True)
        return view.eval().requires_grad_(False)

    def save(self, path: str | Path) -> Path:
        """The overlay as safetensors, bit for bit (a tuned image renders the same after `load`)."""
        save_file({k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}, str(path))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Overlay:
        return cls(load_file(str(path)))
