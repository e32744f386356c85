"""Exports of a drag: MP4 and GIF of the frames, the PNG, and the latent as .npy, all read back."""
import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_generator
from draggan.export import export_video, load_latent, save_latent
from draggan.session import DragSession


@pytest.fixture(scope="module")
def dragged():
    s = DragSession(tiny_generator(), seed=0, lr=1e-2)
    results = list(s.drag([(26, 32)], [(38, 32)], max_steps=4, frame_share=1))
    return s, results


def test_mp4_and_gif_of_the_drag_load_back(dragged, tmp_path):
    s, results = dragged
    assert len(s.frames) == 5  # one per step and the closing frame
    mp4 = imageio.mimread(s.export_video(tmp_path / "drag.mp4", fps=5))
    assert len(mp4) == 5 and mp4[0].shape == (64, 64, 3)
    assert np.abs(mp4[-1].astype(float) - s.frames[-1]).mean() < 12  # lossy, but the same picture
    gif = Image.open(s.export_video(tmp_path / "drag.gif", fps=5))
    assert gif.n_frames == 5 and gif.size == (64, 64)


def test_a_drag_that_recorded_only_its_closing_frame_exports_the_image_before_it_too():
    s = DragSession(tiny_generator(), seed=0, lr=1e-2)
    s.render()  # the architecture's first render in a process sets up kernels and is not timed
    before = s.render()  # timed: at a tiny share no frame is due before the closing one
    list(s.drag([(26, 32)], [(38, 32)], max_steps=3, frame_share=1e-9))
    assert len(s.frames) == 1
    frames = s.drag_frames()
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[0], before)
    assert frames[1] is s.frames[0]


def test_odd_sized_frames_are_padded_for_h264(tmp_path):
    frames = [np.full((33, 45, 3), i * 40, np.uint8) for i in range(3)]
    video = imageio.mimread(export_video(frames, tmp_path / "odd.mp4", fps=3))
    assert len(video) == 3 and video[0].shape == (34, 46, 3)


def test_export_refuses_bad_requests(tmp_path):
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="must end in one of"):
        export_video([frame], tmp_path / "drag.avi")
    with pytest.raises(ValueError, match="no frames"):
        export_video([], tmp_path / "drag.gif")
    with pytest.raises(ValueError, match="frame 1 must be an H x W x 3 uint8"):
        export_video([frame, frame[..., 0]], tmp_path / "drag.gif")


def test_png_is_the_rendered_image(dragged, tmp_path):
    s, _ = dragged
    np.testing.assert_array_equal(np.asarray(Image.open(s.save_png(tmp_path / "final.png"))), s.render())


def test_latent_round_trips_and_wrong_shapes_are_named(dragged, tmp_path):
    s, _ = dragged
    path = s.save_latent(tmp_path / "latent.npy")
    fresh = DragSession(s.G, seed=5)
    fresh.load_latent(path)
    assert torch.equal(fresh.ws, s.ws)
    np.testing.assert_array_equal(fresh.render(), s.render())
    assert fresh.undo() and torch.equal(fresh.ws, fresh.w0)  # loading is undoable
    save_latent(np.zeros((1, 3, 32), np.float32), tmp_path / "small.npy")
    with pytest.raises(ValueError, match=r"has shape \[1, 3, 32\], expected \[1, 10, 32\]"):
        fresh.load_latent(tmp_path / "small.npy")
    with pytest.raises(ValueError, match="NaN"):
        fresh.set_latent(torch.full((1, 10, 32), float("nan")))
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match="not a readable .npy or .npz latent"):
        load_latent(tmp_path / "junk.npy", 10, 32)
