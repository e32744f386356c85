"""`python -m deploy OWNER/NAME`: create or update a Hugging Face Space that runs this app.

    python -m deploy someone/gan-editor --dry-run     # "<bytes>  <path>" per file, then the total; offline
    python -m deploy someone/gan-editor [--hardware zero-a10g] [--private]

The token comes from HF_TOKEN or a saved login (`hf auth login`). See docs/space.md.
"""

from __future__ import annotations

import argparse
import re
import sys

import huggingface_hub

from deploy import space_facts
from deploy.space import REPO, listing, shipped_files, upload

SPACE_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    hardware = ", ".join(f"{name} ({what})" for name, what in space_facts.HARDWARE.items())
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    parser.add_argument("space", help="the Space to create or update, OWNER/NAME")
    parser.add_argument("--hardware", default=None, choices=[h.value for h in huggingface_hub.SpaceHardware],
                        metavar="FLAVOUR", help=f"hardware flavour as the Hub names it: {hardware}; default: "
                                                f"{space_facts.CPU_BASIC} for a new Space, unchanged for one that exists")
    parser.add_argument("--private", action="store_true", help="make the Space private")
    parser.add_argument("--dry-run", action="store_true", help="list the files and sizes; no network, no token")
    args = parser.parse_args(argv)
    if not SPACE_NAME.match(args.space):
        parser.error(f"{args.space!r} is not OWNER/NAME (e.g. someone/gan-editor)")
    return args


def main(argv: list[str] | None = None, api: huggingface_hub.HfApi | None = None) -> int:
    """The command; 1 with one line on stderr when there is no token or the Hub cannot be reached."""
    args = parse_args(argv)
    if args.dry_run:
        print(listing(REPO, shipped_files(REPO)))
        return 0
    token = huggingface_hub.get_token()
    if not token:
        print("deploy: no Hugging Face token: set HF_TOKEN or run `hf auth login` (or try --dry-run)", file=sys.stderr)
        return 1
    try:
        print(upload(api or huggingface_hub.HfApi(token=token), args.space, REPO, args.hardware, args.private))
    except Exception as err:  # offline, no network, a refused token or name: all end the command the same way
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"deploy: could not create or update the Space {args.space}: {type(err).__name__}: {first}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
