"""An inversion's overlay on the shared generator renders and drags exactly as the tuned deep copy it replaced,
costs only its own tensors, survives a trip to disk bit for bit, and refuses a generator it does not fit."""
import copy

import numpy as np
import pytest
import torch

from draggan import DragSession, Overlay, invert
from test_inversion import empty_torch_hub, generated, small  # noqa: F401 (fixtures)
from conftest import tiny_generator


def tuned_copy(G, overlay: Overlay):
    """What the app kept per photo before overlays: a deep copy of G with the tuned tensors written into it."""
    tuned = copy.deepcopy(G)
    with torch.no_grad():
        state = tuned.state_dict()
        for name, tensor in overlay.tensors.items():
            state[name].copy_(tensor)
    return tuned


def drag_trajectory(G, ws) -> tuple[list, np.ndarray]:
    session = DragSession(G, ws=ws)
    results = list(session.drag([(20, 30), (40, 20)], [(28, 34), (36, 26)], max_steps=6))
    return [r.handles for r in results], results[-1].frame


@pytest.mark.parametrize("pti_steps", [0, 2])
def test_the_overlay_renders_and_drags_as_the_tuned_copy(small, pti_steps):
    result = invert(small, generated(small, seed=1), steps=4, pti_steps=pti_steps, torgb_steps=6)
    assert result.overlay.only_torgb == (pti_steps == 0)
    view, copied = result.overlay.on(small), tuned_copy(small, result.overlay)
    assert DragSession(view, ws=result.ws).render().tobytes() == DragSession(copied, ws=result.ws).render().tobytes()
    (mine, my_frame), (theirs, their_frame) = drag_trajectory(view, result.ws), drag_trajectory(copied, result.ws)
    assert mine == theirs and len(mine) > 2 and np.array_equal(my_frame, their_frame)
    assert not np.array_equal(my_frame, DragSession(small, ws=result.ws).render()), "the tuning shows"


def test_the_fits_overlay_shares_every_other_tensor_of_g(small):
    result = invert(small, generated(small, seed=2), steps=3, torgb_steps=4)
    view = result.overlay.on(small)
    theirs, mine = small.state_dict(), view.state_dict()
    shared = [k for k in theirs if mine[k].data_ptr() == theirs[k].data_ptr()]
    assert sorted(set(theirs) - set(shared)) == sorted(result.overlay.tensors)
    total = sum(t.numel() * t.element_size() for t in theirs.values())
    assert result.overlay.nbytes < 0.05 * total, (result.overlay.nbytes, total)
    assert Overlay().on(small) is small


def test_an_overlay_renders_identically_after_a_trip_to_disk(small, tmp_path):
    result = invert(small, generated(small, seed=3), steps=3, pti_steps=1, torgb_steps=4)
    back = Overlay.load(result.overlay.save(tmp_path / "tuned.safetensors"))
    assert back.tensors.keys() == result.overlay.tensors.keys()
    before = DragSession(result.overlay.on(small), ws=result.ws).render()
    assert np.array_equal(DragSession(back.on(small), ws=result.ws).render(), before)


def test_an_overlay_refuses_a_generator_it_does_not_fit(small):
    result = invert(small, generated(small, seed=4), steps=2, torgb_steps=2)
    with pytest.raises(ValueError, match=r"synthesis\.b\d+\.torgb\.weight .* does not fit this generator"):
        result.overlay.on(tiny_generator(channel_max=16))
