"""The class legend both facade tabs show: a colour swatch, the class name and its share of the map."""

from __future__ import annotations

import html

import numpy as np


def hex_colour(colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))


def legend_html(class_names: tuple[str, ...], palette: np.ndarray, shares: dict[str, float]) -> str:
    """A colour-swatch table of the classes, largest share first."""
    rows = []
    for name, colour in sorted(zip(class_names, palette), key=lambda nc: -shares.get(nc[0], 0.0)):
        rows.append(
            f"<tr><td><span style='display:inline-block;width:1.1em;height:1.1em;background:{hex_colour(colour)};"
            f"border:1px solid #0004;vertical-align:middle'></span></td>"
            f"<td>{html.escape(name)}</td><td style='text-align:right'>{100 * shares.get(name, 0.0):.1f} %</td></tr>")
    return ("<table class='legend'><thead><tr><th></th><th>class</th><th>pixels</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
