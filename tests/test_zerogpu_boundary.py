"""What crosses ZeroGPU's process boundary: spaces.GPU runs the function in a forked worker, and its arguments
and results are pickled on the way in and out (spaces 0.51.3, zero/wrappers.py: `arg_queue.put(((args,
kwargs), ...))`, `res_queue.put(OkResult(res))`). A GPU function must therefore take and give back only what
pickles, and whatever it changes in its arguments stays in the worker. This stand-in does the same pickling
in-process, so the drag and the inversion can be checked here without a ZeroGPU Space: their results, Stop
(a `StopFlag` file, which a forked worker sees as this stand-in does) and their progress."""
import inspect
import pickle
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import draggan
import editor.controller
import editor.worker
from draggan.overlay import Overlay
from draggan.registry import drag_config, invert_config
from draggan.session import DragSession
from editor import DragSettings, Editor, InvertSettings, Shared
from editor.models import DEMO_MODEL, ModelCache
from draggan.inversion import InvertConfig
from editor.tuned import TunedCopies
from editor.worker import StopFlag, progress_stream


def across_the_boundary(fn):
    """`fn` as ZeroGPU calls it: arguments and each result round-trip through pickle."""
    def crossed(value):
        return pickle.loads(pickle.dumps(value))

    if inspect.isgeneratorfunction(fn):
        def worker_generator(*args, **kwargs):
            args, kwargs = crossed((args, kwargs))
            for item in fn(*args, **kwargs):
                yield crossed(item)
        return worker_generator

    def worker(*args, **kwargs):
        args, kwargs = crossed((args, kwargs))
        return crossed(fn(*args, **kwargs))
    return worker


def editor_with_points() -> Editor:
    ed = Editor(Shared(ModelCache(torch.device("cpu")), TunedCopies()))
    ed.new_image(DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7))
    ed.add_point(40, 64)
    ed.add_point(70, 64)
    return ed


def test_the_stand_in_keeps_plain_values_and_drops_changes_made_in_the_worker():
    def grow(items: list):
        items.append(1)
        return len(items)

    items = []
    assert across_the_boundary(grow)(items) == 1 and items == [], "the worker changed its own copy"


def test_a_drag_across_the_zero_gpu_boundary_comes_back_to_the_session(monkeypatch):
    monkeypatch.setattr(editor.controller, "run_drag", across_the_boundary(editor.worker.drag_copy))
    ed = editor_with_points()
    before = ed.image.copy()
    updates = list(ed.drag(DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7, max_steps=3, lr=2e-2)))
    assert updates[-1].final and "step 3/3" in updates[-1].status
    assert np.abs(ed.image.astype(int) - before).mean() > 0.5, "the dragged latent came back to the session"
    record = ed.session.history[-1]
    assert len(ed.session.history) == 1 and len(record.trajectory) == 3, "one undo record, one entry per step"
    assert ed.session.frames, "the drag's frames came back for the export"
    ed.undo()
    assert np.array_equal(ed.image, before), "undo returns to the latent from before the drag"


def test_a_feature_offset_drag_comes_back_across_the_boundary():
    G = ModelCache(torch.device("cpu")).get(DEMO_MODEL)
    assert drag_config(DEMO_MODEL).feature_res, "the bundled model's drags move a block's output"
    here, there = (DragSession(G, seed=0, config=drag_config(DEMO_MODEL)) for _ in range(2))
    handles, targets = [(40, 64)], [(60, 64)]
    steps = across_the_boundary(editor.worker.drag_copy)(G, Overlay(), here.ws, here.features, here.config,
                                                          handles, targets, max_steps=3)
    list(editor.worker.follow(here, handles, targets, steps))
    list(there.drag(handles, targets, max_steps=3))
    assert here.features.any() and torch.equal(here.features, there.features) and torch.equal(here.ws, there.ws)
    assert here.undo() is not None and not here.features.any()


def test_a_drag_refused_in_the_worker_leaves_no_undo_record(monkeypatch):
    monkeypatch.setattr(editor.controller, "run_drag", across_the_boundary(editor.worker.drag_copy))
    ed = editor_with_points()
    ed.mask = np.ones((3, 3), bool)  # the wrong shape: the worker's session refuses it before any step
    updates = list(ed.drag(DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7, max_steps=3)))
    assert updates[-1].final and "mask must have shape" in updates[-1].status
    assert ed.session.history == [] and not ed.running


def test_stop_reaches_a_drag_in_the_worker(monkeypatch):
    monkeypatch.setattr(editor.controller, "run_drag", across_the_boundary(editor.worker.drag_copy))
    ed = editor_with_points()
    updates = []
    for update in ed.drag(DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7, max_steps=50)):
        updates.append(update)
        if len(updates) == 2:
            assert ed.stop().startswith("Stopping")
    assert "stopped on request after 2 steps" in updates[-1].status
    assert len(updates) == 4, "two steps, the closing render, the final status"
    assert len(ed.session.history[-1].trajectory) == 2 and not ed.running


def photo_editor() -> Editor:
    ed = editor_with_points()
    photo = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    face = type("Face", (), {"image": photo, "landmarks": np.zeros((68, 2))})()
    ed.photo = type("Photo", (), {"model": DEMO_MODEL, "aligned": face, "faces": (face,), "number": 1,
                                  "name": "noise.png"})()
    return ed


def test_an_inversion_across_the_zero_gpu_boundary_reports_progress_and_returns_the_overlay(monkeypatch):
    monkeypatch.setattr(editor.controller, "run_inversion", across_the_boundary(editor.worker.inversion_stream))
    ed = photo_editor()
    reports = []
    summary = ed.invert(InvertSettings(steps=3, pti_steps=2), progress=reports.append)
    fit, offset = InvertConfig().torgb_steps, invert_config(DEMO_MODEL).feature_steps  # its recipe fits an offset
    assert offset and [(r.stage, r.step) for r in reports] == [
        ("projection", 1), ("projection", 2), ("projection", 3), ("pti", 4), ("pti", 5)] + [
        ("fit", 6 + i) for i in range(fit)] + [("features", 6 + fit + i) for i in range(offset)]
    assert f"in {5 + fit + offset} steps" in summary and "then PTI, the ToRGB fit and the feature offset" in summary
    assert not ed.overlay.only_torgb and ed.session.G is not ed.shared.models.get(DEMO_MODEL), \
        "the session edits the PTI overlay that came back, on the shared generator"
    assert ed.shared.tuned.holders() == [ed.visitor], "PTI's overlay is counted by the cap"


def test_the_gpu_time_asked_for_an_inversion_counts_every_stage_it_runs():
    plain = editor.worker.inversion_seconds(None, None, None, steps=100, pti_steps=60, config=InvertConfig())
    offset = InvertConfig(feature_steps=100)
    assert editor.worker.inversion_seconds(None, None, None, steps=100, pti_steps=60, config=offset,
                                           feature_res=32) > plain
    assert editor.worker.inversion_seconds(None, None, None, steps=100, pti_steps=60, config=offset) == plain, \
        "no block to fit an offset on: no such stage"


def test_stop_reaches_an_inversion_in_the_worker_and_keeps_what_it_has(monkeypatch):
    monkeypatch.setattr(editor.controller, "run_inversion", across_the_boundary(editor.worker.inversion_stream))
    ed = photo_editor()

    def stop_after_two(report):
        if report.step == 2:
            ed.stop()

    summary = ed.invert(InvertSettings(steps=20, pti_steps=5), progress=stop_after_two)
    # The worker runs ahead of the reports it sends, so it may have taken one step more when Stop arrives.
    taken = int(re.search(r"in (\d+) steps", summary).group(1))
    total = 25 + InvertConfig().torgb_steps + invert_config(DEMO_MODEL).feature_steps
    assert taken in (2, 3) and f"stopped on request after {taken} of {total} steps" in summary.lower()
    assert "projection only, no tuning" in summary
    assert ed.session.G is ed.shared.models.get(DEMO_MODEL), "no PTI: the session edits the shared generator"
    assert not ed.running


def test_an_error_in_the_worker_reaches_the_caller():
    def fails(*, progress, stop):
        progress("one")
        raise ValueError("no face")

    stream = progress_stream(fails, stop=StopFlag(tempfile.gettempdir()))
    assert next(stream) == "one"
    with pytest.raises(ValueError, match="no face"):
        next(stream)


def test_a_fitted_photo_crosses_as_its_overlay_drags_as_in_process_and_is_not_counted(monkeypatch):
    monkeypatch.setattr(editor.controller, "run_inversion", across_the_boundary(editor.worker.inversion_stream))
    monkeypatch.setattr(editor.controller, "run_drag", across_the_boundary(editor.worker.drag_copy))
    ed = photo_editor()
    ed.invert(InvertSettings(steps=2, pti_steps=0))
    assert ed.overlay.only_torgb and ed.overlay.tensors and ed.shared.tuned.holders() == [], "36 KB: not capped"
    settings = DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7, max_steps=3)
    here = DragSession(ed.session.G, ws=ed.session.ws, features=ed.session.features, config=ed.session.config)
    list(here.drag([(40, 64)], [(70, 64)], max_steps=3, lr=settings.lr))
    ed.points = [(40, 64), (70, 64)]
    list(ed.drag(settings))
    mine, theirs = ed.session.history[-1].trajectory, here.history[-1].trajectory
    assert len(mine) == 3 and all(np.array_equal(a, b) for a, b in zip(mine, theirs))
    assert np.array_equal(ed.image, here.render()), "the worker dragged the overlay on the shared generator"


def test_the_engine_knows_nothing_of_its_hosting():
    engine = Path(draggan.__file__).parent
    for path in engine.glob("*.py"):
        assert not re.search(r"zero ?gpu|\bspaces?\b", path.read_text(), re.I), path.name
