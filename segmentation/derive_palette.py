"""Print the label palette derived from a side-by-side paired folder (labels on the right).

    python -m segmentation.derive_palette ../shared/datasets/facades/train

On the facades training set this prints ``segmentation.palette.PALETTE``, row for row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .data import list_pairs, read_pair
from .palette import derive_palette


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="side-by-side pairs, labels on the right")
    parser.add_argument("--num-classes", type=int, default=13, help="number of label colours to find")
    args = parser.parse_args(argv)
    palette = derive_palette((read_pair(f)[1] for f in list_pairs(args.folder)), args.num_classes)
    for rgb in palette:
        print([int(v) for v in rgb])


if __name__ == "__main__":
    main()
