"""Every dropdown choice reads as words for a visitor: at most 60 characters and no training recipe."""
import re

import gradio as gr
import pytest

from draggan.registry import MAX_LABEL, REGISTRY, model_label
from ui import AppConfig, build_app

LAB_NOTES = re.compile(r"mIoU|Lov[aá]sz|cross-entropy|soup|fine-tun|adversarial|discriminator|distill|\brun\b|"
                       r"\bce\b|λ|\d+ ?: ?\d+|registry", re.IGNORECASE)


def assert_for_visitors(label: str) -> None:
    assert 0 < len(label) <= MAX_LABEL, f"{label!r}: {len(label)} characters"
    assert not LAB_NOTES.search(label), f"{label!r} reads as lab notes"


@pytest.fixture(scope="module")
def app() -> gr.Blocks:
    return build_app(AppConfig(device="cpu", demo=True))


def test_every_dropdown_choice_in_the_app_is_for_visitors(app):
    dropdowns = [block for block in app.blocks.values() if isinstance(block, gr.Dropdown)]
    assert len(dropdowns) >= 2, "the drag model and the segmentation model menus"
    for dropdown in dropdowns:
        for label, _ in dropdown.choices:
            assert_for_visitors(label)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registry_model_has_a_visitor_label(name):
    assert_for_visitors(model_label(name))


def test_a_local_file_shows_its_name_cut_to_the_limit():
    assert model_label("/data/checkpoints/my-cats.pkl") == "my-cats.pkl"
    long = model_label("/data/" + "x" * 80 + ".pkl")
    assert len(long) == MAX_LABEL and long.endswith("…")
