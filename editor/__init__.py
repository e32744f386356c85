"""The drag editor: a visitor's drag work (seed or photo -> points -> drag -> export) as one controller, outside Gradio.

    from editor import Editor, Shared, DragSettings
    from editor.models import DEMO_MODEL, ModelCache
    from editor.tuned import TunedCopies
    ed = Editor(Shared(ModelCache(device), TunedCopies()))
    ed.new_image(DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7))
    ed.add_point(40, 64); ed.add_point(70, 64)
    for update in ed.drag(DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7, max_steps=20)):
        print(update.status)
    files, message = ed.export()

`controller.py` is the `Editor`; `checks.py` the pydantic checks on what a visitor sends, `photo.py` their own
photo (faces, crop, inversion summary), `models.py` the generators every visitor shares, `tuned.py` the cap on
PTI-tuned generators, `worker.py` what runs in a ZeroGPU worker and its replay, `exports.py` the downloads.
"""
from .checks import DragPoints, DragSettings, InvertSettings, Point, explain
from .controller import BUSY, NO_IMAGE, DragUpdate, Editor, Refused, Shared

__all__ = ["BUSY", "NO_IMAGE", "DragPoints", "DragSettings", "DragUpdate", "Editor", "InvertSettings", "Point",
           "Refused", "Shared", "explain"]
