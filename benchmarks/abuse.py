"""Replays issue 23's attacks by one hostile or careless visitor against the app, started here, and prints figures.

    python -m benchmarks.abuse                          # every attack, a fresh server for each
    python -m benchmarks.abuse --attacks strips,queue --json abuse.json

Each attack gets its own `python app.py --demo` (the untrained demo generator, offline) on 127.0.0.1, with
gradio's cache and the temp folder inside a scratch folder, so its memory and disk are its own. Reported per
attack: the server's peak RSS above its level before the attack, whether a new visitor (one /segment and
one /new_image from a fresh client) is still served and how fast, whether a victim's edit survives, and the
disk use of the scratch folder before, after, and after the server was stopped with SIGTERM.

The attacks (issue 23, 1-6): strips and 40 Mpx images as the segmentation photo, the photo upload and the
mask layer, one and four at once; a flood of slow jobs (two 5000 + 2000 step inversions, 70 raw /call/start
posts under made-up session hashes); throwaway sessions that invert to evict a victim's tuned generator;
20 sessions that upload a 3277x4096 photo and go quiet; a 1 GiB upload, exports and segmentations (disk);
bad arguments; a 3600x4500 group photo of 150 px faces.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.soak import EXAMPLES, RssMonitor, points  # noqa: E402
from editor.tuned import SPILL_AFTER_IDLE_S  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_MODEL = "demo: untrained 128 px generator (random weights)"
RAW = ("Could not preprocess", "cannot convert", "errors.pydantic.dev", "Traceback")  # unreadable answers


class Server:
    """`python app.py --demo` on a free loopback port, its cache and temp files under `scratch`."""

    def __init__(self, scratch: Path, *flags: str):
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "tmp").mkdir(exist_ok=True)
        port = free_port()
        env = {**os.environ, "GRADIO_TEMP_DIR": str(scratch / "gradio"), "TMPDIR": str(scratch / "tmp"),
               "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        self.log = open(scratch / "server.log", "w")
        self.process = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port), *flags],
                                        cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}/"
        self.monitor = RssMonitor(self.process.pid, interval=0.02)
        deadline = time.monotonic() + 180
        while not self.ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the app did not start; see {scratch / 'server.log'}")
            time.sleep(0.5)
        self.monitor.start()

    def ready(self) -> bool:
        try:
            return httpx.get(self.url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def disk_mb(self) -> float:
        return sum(p.stat().st_size for p in self.scratch.rglob("*") if p.is_file() and p.name != "server.log") / 2**20

    def peak(self, since: int) -> float:
        """Peak RSS (MB) sampled since sample number `since`."""
        return max(self.monitor.samples[since:], default=self.monitor.rss_mb() or 0.0)

    def stop(self) -> float:
        """SIGTERM, as a Space stops it; the MB left in the scratch folder afterwards."""
        self.monitor.running = False
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        return self.disk_mb()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measured(server: Server, fn, *args):
    """(fn's result or its error, seconds, peak RSS added in MB) of one call."""
    since, before = len(server.monitor.samples), server.monitor.rss_mb()
    start = time.perf_counter()
    try:
        result = fn(*args)
    except Exception as err:  # noqa: BLE001 - an attack's failure is a figure, not a crash of the benchmark
        result = f"{type(err).__name__}: {str(err)[:120]}"
    seconds = time.perf_counter() - start
    time.sleep(0.5)
    return result, seconds, server.peak(since) - before


def at_once(count: int, fn, *args) -> list:
    """`count` calls of fn(client, *args) from fresh clients, started together."""
    results = [None] * count
    clients = [Client(*args[:1], verbose=False) for _ in range(count)]
    barrier = threading.Barrier(count)

    def one(i):
        barrier.wait()
        try:
            results[i] = fn(clients[i], *args[1:])
        except Exception as err:  # noqa: BLE001
            results[i] = f"{type(err).__name__}: {str(err)[:120]}"
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results


def new_visitor(url: str) -> dict:
    """A fresh client's /segment and /new_image: served (a real answer, not 'Queue is full'), and how fast."""
    out = {}
    for name, call in (("segment", lambda c: c.predict(handle_file(str(EXAMPLES[0])), 0.5, api_name="/segment")[3]),
                       ("new_image", lambda c: c.predict(DEMO_MODEL, 7, 0.7, 2e-3, 20, "W+",
                                                          api_name="/new_image")[1])):
        start = time.perf_counter()
        try:
            status = call(Client(url, verbose=False))
        except Exception as err:  # noqa: BLE001
            status = f"{type(err).__name__}: {str(err)[:100]}"
        out[name] = {"served": "Segmented" in status or "New image" in status,
                     "s": round(time.perf_counter() - start, 2), "status": status[:100]}
    return out


def status_of(result) -> str:
    """The status text of a handler's answer (its longest string), or the error's text."""
    if isinstance(result, str):
        return result[:140]
    texts = [v for v in (result or ()) if isinstance(v, str) and not os.path.exists(v)]
    return max(texts, key=len, default=str(result))[:140]


# ----------------------------------------------------------------------------- files the attacks send

def make_files(folder: Path) -> dict[str, Path]:
    """The issue's strips, the largest accepted images, a face photo (3277x4096) and a 36-face group photo."""
    from skimage.data import astronaut
    files = {"strip 5,000,000x8": (5_000_000, 8), "strip 40,000,000x1": (40_000_000, 1)}
    for name, size in list(files.items()):
        files[name] = folder / f"{size[0]}x{size[1]}.png"
        Image.new("L", size, 128).save(files[name])
    with Image.open(EXAMPLES[0]) as im:
        small = im.convert("RGB").resize((73, 55))
    for name, size in (("40 Mpx 7300x5475", (7300, 5475)), ("16384x1639", (16384, 1639))):
        files[name] = folder / f"{size[0]}x{size[1]}.png"
        small.resize(size, Image.Resampling.NEAREST).save(files[name])  # flat blocks: a small file
    face = Image.fromarray(astronaut()).resize((4096, 4096), Image.Resampling.LANCZOS).crop((410, 0, 3687, 4096))
    files["face 3277x4096"] = folder / "face.jpg"
    face.save(files["face 3277x4096"], quality=90)
    files["group 3600x4500"] = folder / "group.jpg"
    Image.fromarray(group_photo(astronaut())).save(files["group 3600x4500"], quality=90)
    return files


def group_photo(astronaut: np.ndarray) -> np.ndarray:
    """36 astronauts (6x6) in a 3600x4500 photo, faces 150 px wide (as tests/test_landmarks.py builds it)."""
    tile = np.asarray(Image.fromarray(astronaut[0:400, 80:380]).resize((360, 480), Image.Resampling.LANCZOS))
    photo = np.full((4500, 3600, 3), 128, dtype=np.uint8)
    for row in range(6):
        for col in range(6):
            photo[100 + row * 750:580 + row * 750, 100 + col * 600:460 + col * 600] = tile
    return photo


# ----------------------------------------------------------------------------- calls

def segment(c: Client, path: Path) -> str:
    return c.predict(handle_file(str(path)), 0.5, api_name="/segment")[3]


def upload_photo(c: Client, path: Path) -> str:
    return c.predict(handle_file(str(path)), DEMO_MODEL, 1, api_name="/upload_photo")[1]


def start_with_mask(c: Client, path: Path) -> str:
    editor = {"background": None, "layers": [handle_file(str(path))], "composite": None}
    return c.predict(DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", points((40, 64, 70, 64)), editor, api_name="/start")[1]


def raw_call(url: str, api: str, data: list, session: str, wait: float = 60) -> tuple[str, str]:
    """A raw /call/<api> post (no gradio_client, no heartbeat), then its answer: (event, data) of the stream."""
    body = json.dumps({"data": data, "session_hash": session}, allow_nan=True)
    posted = httpx.post(url + f"gradio_api/call/{api}", content=body, headers={"content-type": "application/json"})
    if posted.status_code != 200:
        return "refused", posted.text[:140]
    event, answer = "", ""
    try:
        with httpx.stream("GET", url + f"gradio_api/call/{api}/{posted.json()['event_id']}", timeout=wait) as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, line[5:].strip()[:300]
    except httpx.HTTPError as err:
        answer = f"{type(err).__name__}"
    return event or "no answer", answer


# ----------------------------------------------------------------------------- the attacks

def attack_strips(server: Server, files: dict) -> list[dict]:
    """Issue 23.1: strips and the largest accepted images, as photo, segmentation input and mask layer."""
    rows = []
    for call, name, count in [(segment, "strip 5,000,000x8", 1), (segment, "strip 5,000,000x8", 4),
                              (segment, "40 Mpx 7300x5475", 1), (segment, "40 Mpx 7300x5475", 4),
                              (segment, "16384x1639", 4), (upload_photo, "strip 40,000,000x1", 1),
                              (upload_photo, "40 Mpx 7300x5475", 1), (upload_photo, "40 Mpx 7300x5475", 4),
                              (start_with_mask, "strip 40,000,000x1", 1), (start_with_mask, "40 Mpx 7300x5475", 1)]:
        results, seconds, added = measured(server, at_once, count, call, server.url, files[name])
        rows.append({"attack": f"{call.__name__} {name} x{count}", "peak_added_mb": round(added),
                     "s": round(seconds, 1), "answer": status_of(results[0] if isinstance(results, list) else results)})
    rows[-1]["new_visitor"] = new_visitor(server.url)
    return rows


def attack_queue(server: Server, files: dict) -> dict:
    """Issue 23.2: two 5000 + 2000 step inversions, then 70 raw /call/start posts under made-up session hashes;
    meanwhile a new visitor, and the hog's own Stop."""
    hogs = [Client(server.url, verbose=False) for _ in range(2)]
    for hog in hogs:
        upload_photo(hog, files["face 3277x4096"])
    since, before = len(server.monitor.samples), server.monitor.rss_mb()
    asked = status_of(hogs[0].predict(5000, 2000, api_name="/invert"))  # the job, then the most allowed
    jobs = [hog.submit(200, 60, api_name="/invert") for hog in hogs]
    time.sleep(3)
    start = time.perf_counter()
    flood = [raw_call(server.url, "start", [DEMO_MODEL, i, 0.7, 2e-3, 500, "W+", points((20, 20, 110, 110)), None],
                      f"flood-{i}", wait=1) for i in range(70)]  # 500: the most drag steps a job may ask for
    flood_s = time.perf_counter() - start
    visitor = new_visitor(server.url)
    stops = []
    for hog in hogs:  # one of them holds the lane, the other was told it already has a job
        start = time.perf_counter()
        stops.append((status_of(hog.predict(api_name="/stop")), time.perf_counter() - start))
    stopped, stop_s = max(stops, key=lambda answer: "Stopping" in answer[0])
    finished = [status_of(job.result(timeout=600)) for job in jobs]
    answers = sorted({f"{event}: {text[:70]}" for event, text in flood})
    return {"attack": "2 inversions 5000+2000 steps + 70 raw /call/start", "asked_5000_2000": asked,
            "flood_posted_s": round(flood_s, 1),
            "flood_answers": answers[:4], "new_visitor": visitor, "hog_stop_s": round(stop_s, 2),
            "hog_stop": stopped, "hogs_finished": finished, "peak_added_mb": round(server.peak(since) - before)}


def attack_evict(server: Server, files: dict) -> dict:
    """Issue 23.3: a victim inverts, smiles and drags; four throwaway sessions each upload and invert 1 + 1 steps."""
    victim = Client(server.url, verbose=False)
    upload_photo(victim, files["face 3277x4096"])
    victim.predict(3, 3, api_name="/invert")
    victim.predict(0.7, api_name="/preset_smile")
    dragged = status_of(victim.predict(DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", None, None, api_name="/start"))
    time.sleep(SPILL_AFTER_IDLE_S + 1)  # the victim looks at their edit: now their copy may go to disk
    throwaways = []
    for _ in range(4):
        throwaway = Client(server.url, verbose=False)
        upload_photo(throwaway, files["face 3277x4096"])
        throwaways.append(status_of(throwaway.predict(1, 1, api_name="/invert"))[:60])
    undo = status_of(victim.predict(api_name="/undo_drag"))
    files_out, export = victim.predict(api_name="/export")
    survived = "Undid the last drag" in undo and "Exported the edited photo" in export and bool(files_out)
    spilled = sorted(str(p.relative_to(server.scratch)) for p in server.scratch.rglob("tuned.safetensors"))
    return {"attack": "4 throwaway inversions after a victim's edit", "victim_drag": dragged, "victim_undo": undo,
            "victim_export": export[:100], "victim_edit_survives": survived, "spilled_files": spilled,
            "throwaways": throwaways}


def attack_sessions(server: Server, files: dict, ttl: float) -> dict:
    """Issue 23.4: 20 sessions each upload a 3277x4096 photo and go quiet (raw HTTP clients send no heartbeat)."""
    upload_photo(Client(server.url, verbose=False), files["face 3277x4096"])  # loads the face detector once
    time.sleep(ttl + 10)  # and that session goes too (the reaper looks every 5 s)
    before = server.monitor.rss_mb()
    for _ in range(20):
        upload_photo(Client(server.url, verbose=False), files["face 3277x4096"])
    time.sleep(10)
    held = server.monitor.rss_mb()
    time.sleep(ttl + 10)
    after = server.monitor.rss_mb()
    return {"attack": f"20 quiet sessions with a 3277x4096 photo (--session-ttl {ttl:g})",
            "rss_before_mb": round(before), "rss_held_mb": round(held),
            "per_session_mb": round((held - before) / 20, 1), "rss_after_ttl_mb": round(after),
            "session_folders_left": sorted(p.name for p in (server.scratch / "tmp").glob("gan-editor-sessions-*/*"))}


def attack_disk(server: Server, files: dict) -> dict:
    """Issue 23.5: a 1 GiB upload, exports of a 4096 px photo edit and repeated segmentations; then SIGTERM."""
    disk_before = server.disk_mb()
    big = server.scratch.parent / "1GiB.bin"
    with open(big, "wb") as f:
        f.truncate(2**30)
    with open(big, "rb") as f:
        upload = httpx.post(server.url + "gradio_api/upload", files={"files": f}, timeout=300)
    big.unlink()
    editor = Client(server.url, verbose=False)
    upload_photo(editor, files["face 3277x4096"])
    editor.predict(1, 1, api_name="/invert")
    exports = [status_of(editor.predict(api_name="/export")) for _ in range(5)]
    for _ in range(10):
        segment(editor, EXAMPLES[1])
    return {"attack": "1 GiB upload, 5 exports of a 4096 px photo, 10 segmentations",
            "upload_1gib": f"{upload.status_code} {upload.text[:80]}", "export": exports[-1][:80],
            "disk_before_mb": round(disk_before, 1), "disk_after_mb": round(server.disk_mb(), 1)}


BAD_CALLS = [  # (api, data): what an API client may send instead of what the page sends
    ("new_image", [DEMO_MODEL, math.nan, 0.7, 2e-3, 20, "W+"]),
    ("new_image", [DEMO_MODEL, 1, 0.7, 2e-3, math.nan, "W+"]),
    ("new_image", [DEMO_MODEL, "seven", 0.7, 2e-3, 20, "W+"]), ("invert", [math.nan, 2]), ("invert", ["many", 2]),
    ("choose_face", [math.nan]), ("choose_face", ["two"]), ("preset_smile", ["strong"]), ("preset_smile", [math.nan]),
    ("start", [DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", "a string", None]),
    ("start", [DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", None, "a string"]),
    ("start", [DEMO_MODEL, math.nan, 0.7, 2e-3, math.nan, "W+", None, None]),
    ("segment", ["not a file", 0.5, None]), ("segment", [None, "half", None]),
    ("upload_photo", ["not a file", DEMO_MODEL, 1]),
    ("upload_photo", [None, DEMO_MODEL, math.nan]), ("undo_point", []), ("export", []), ("detect_landmarks", []),
]


def attack_errors(server: Server, files: dict) -> dict:
    """Issue 23.6: bad arguments; an answer is readable when it is a sentence (in the status, or as the call's
    error), not gradio's or pydantic's dump, and not an error without a message."""
    unreadable = []
    for api, data in BAD_CALLS:
        event, text = raw_call(server.url, api, data, f"bad-{api}")
        silent = event not in ("complete", "error") or text in ("null", "[null]") or '"error": null' in text
        if silent or any(marker in text for marker in RAW):  # an "error" event with a sentence is an answer
            unreadable.append(f"/{api} {json.dumps(data, allow_nan=True)[:50]} -> {event}: {text[:80]}")
    return {"attack": f"{len(BAD_CALLS)} bad-argument calls", "unreadable": len(unreadable), "examples": unreadable[:8]}


def attack_faces(server: Server, files: dict) -> dict:
    """Issue 23.6: a 3600x4500 group photo of 36 faces 150 px wide."""
    answer, seconds, added = measured(server, upload_photo, Client(server.url, verbose=False), files["group 3600x4500"])
    return {"attack": "36 faces of 150 px in a 3600x4500 photo", "answer": status_of(answer), "s": round(seconds, 1),
            "peak_added_mb": round(added)}


ATTACKS = {"strips": attack_strips, "queue": attack_queue, "evict": attack_evict, "sessions": attack_sessions,
           "disk": attack_disk, "errors": attack_errors, "faces": attack_faces}


def run_attack(name: str, scratch: Path, files: dict, ttl: float) -> dict:
    """One attack against a server of its own: its figures, and the disk before, after and after SIGTERM."""
    # as on a public Space; the short TTL only where sessions expiring is the point (it would free the victim)
    server = Server(scratch / name, "--session-ttl", str(ttl if name == "sessions" else 1800), "--jobs-per-ip")
    try:
        disk_before = server.disk_mb()
        args = (server, files, ttl) if name == "sessions" else (server, files)
        figures = ATTACKS[name](*args)
        disk_after = server.disk_mb()
    finally:
        disk_left = server.stop()
    disk = {"before": round(disk_before, 1), "after": round(disk_after, 1), "after_sigterm": round(disk_left, 1)}
    return {"name": name, "figures": figures, "disk_mb": disk}


def summary(result: dict) -> list[str]:
    """Markdown rows: attack | peak RSS added | new visitor | victim | disk before / after / after SIGTERM."""
    rows = result["figures"] if isinstance(result["figures"], list) else [result["figures"]]
    disk = result["disk_mb"]
    out = []
    for row in rows:
        visitor = row.get("new_visitor")
        served = "" if visitor is None else " / ".join(
            f"{k} {'yes' if v['served'] else 'NO'} {v['s']} s" for k, v in visitor.items())
        peak = row.get("peak_added_mb", row.get("per_session_mb", ""))
        answer = row.get("answer") or row.get("victim_edit_survives", row.get("unreadable", row.get("hog_stop", "")))
        out.append(f"| {row['attack']} | {peak} | {served} | {str(answer)[:90]} | "
                   f"{disk['before']} / {disk['after']} / {disk['after_sigterm']} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attacks", default=",".join(ATTACKS), help=f"comma-separated, of {', '.join(ATTACKS)}")
    parser.add_argument("--session-ttl", type=float, default=30.0,
                        help="--session-ttl (seconds) of the server the 'sessions' attack runs against")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    names = [n for n in args.attacks.split(",") if n]
    if unknown := set(names) - set(ATTACKS):
        raise SystemExit(f"unknown attacks {sorted(unknown)}; choose from {', '.join(ATTACKS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="abuse-") as tmp:
        files = make_files(Path(tmp))
        for name in names:
            print(f"attack {name}…", flush=True)
            results.append(run_attack(name, Path(tmp), files, args.session_ttl))
            print(json.dumps(results[-1], indent=1), flush=True)
    print("\n| attack | peak RSS added, MB | new visitor served | answer / victim | disk MB before / after / "
          "after SIGTERM |\n|---|---|---|---|---|")
    for result in results:
        print("\n".join(summary(result)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
