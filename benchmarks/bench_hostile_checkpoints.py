"""Peak memory of refusing each hostile checkpoint, every file in a fresh process.

    python -m benchmarks.bench_hostile_checkpoints [--keep DIR]

Writes the fuzz corpus of tests/hostile_checkpoints.py (about 50 small files made on the fly) into a
temporary folder, then for each file starts `python -c "load_generator(file)"` and records how it ended
(the exception class) and the process's peak resident memory (ru_maxrss). A baseline process that
only imports torch and draggan shows what every process costs before it reads anything. Prints one row
per file and a summary: files, how many were refused with a CheckpointError, the largest peak.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CHILD = """
import json, resource, sys
from draggan import CheckpointError, load_generator
outcome = "baseline"
if sys.argv[1:]:
    try:
        load_generator(sys.argv[1], device="cpu")
        outcome = "LOADED"
    except CheckpointError as err:
        outcome = type(err).__name__ if sys.argv[1].split("/")[-1] in str(err) else "unnamed " + type(err).__name__
    except BaseException as err:
        outcome = "UNCAUGHT " + type(err).__name__
print(json.dumps({"outcome": outcome, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(path: Path | None) -> dict:
    """Outcome and peak RSS of one fresh process loading `path` (None: imports only)."""
    args = [sys.executable, "-c", CHILD] + ([str(path)] if path else [])
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:  # killed (e.g. out of memory) or crashed
        return {"outcome": f"process died (exit {result.returncode})", "peak_mb": float("nan")}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the corpus here and keep it (default: a temp folder)")
    args = parser.parse_args()
    from hostile_checkpoints import write_corpus

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        paths = write_corpus(folder)
        baseline = measure(None)["peak_mb"]
        print(f"baseline (import torch + draggan, load nothing): {baseline:.0f} MB peak RSS", flush=True)
        print("| file | bytes | outcome | peak RSS MB |\n|---|---|---|---|")
        rows = []
        for path in paths:
            row = measure(path)
            rows.append(row)
            print(f"| {path.name} | {path.stat().st_size} | {row['outcome']} | {row['peak_mb']:.0f} |", flush=True)
    refused = sum(row["outcome"] in ("CheckpointFormatError", "UnsafeCheckpointError") for row in rows)
    worst = max(row["peak_mb"] for row in rows)
    print(f"\n{len(rows)} files, {refused} refused with a CheckpointError naming the file; "
          f"largest peak RSS {worst:.0f} MB ({worst - baseline:+.0f} MB over the {baseline:.0f} MB baseline)")


if __name__ == "__main__":
    main()
