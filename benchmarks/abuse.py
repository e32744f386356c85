"""Replays issues 23's and 31's attacks by a hostile or careless visitor against the app, started here, and prints
figures.

    python -m benchmarks.abuse                          # every attack, a fresh server for each
    python -m benchmarks.abuse --attacks strips,queue --json abuse.json

Each attack gets its own `python app.py --demo --jobs-per-ip` (the bundled facades generator, offline) on
127.0.0.1 with SPACE_ID set, as on a Space, and gradio's cache and the temp folder inside a scratch folder, so
its memory and disk are its own. On a Space the platform's proxy appends each sender's address to
x-forwarded-for; here a client that stands for a visitor writes that header as the app would receive it.
Reported per attack: the server's peak RSS above its level before the attack, whether a new visitor (one
/segment and one /new_image from a fresh client) is still served and how fast, whether a victim's edit
survives, and the disk use of the scratch folder before, after, and after the server was stopped with SIGTERM.

The attacks (issue 23, 1-6): strips and 40 Mpx images as the segmentation photo, the photo upload and the
mask layer, one and four at once; a flood of slow jobs (two 5000 + 2000 step inversions, 70 raw /call/start
posts under made-up session hashes); throwaway sessions that invert to evict a victim's tuned generator;
20 sessions that upload a 3277x4096 photo and go quiet; a 1 GiB upload, exports and segmentations (disk);
bad arguments; a 3600x4500 group photo of 150 px faces.

The attacks of issue 31 (1-6): file records naming server paths (`files`); model arguments outside the menu
(`model`); the largest brush composites and mask layers the limits accept (`brush`); a client rotating the
first x-forwarded-for entry, a claimed address and a stranger's Stop (`identity`); 80 /call/paint posts with a
40 Mpx map (`flood`); bad click indices and 1e308 numbers (`sentences`); SIGTERM mid-drag, and exports under a
10 MB cache cap (`sigterm`). Events the page alone uses (the brush, the mask editor, clicks) are called as the
page calls them (`Events`: queue/join).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.soak import EXAMPLES, RssMonitor, points  # noqa: E402
from editor.models import DEMO_MODEL  # noqa: E402
from editor.tuned import SPILL_AFTER_IDLE_S  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

RAW = ("Could not preprocess", "cannot convert", "errors.pydantic.dev", "Traceback")  # unreadable answers


class Server:
    """`python app.py --demo` on a free loopback port, its cache and temp files under `scratch`."""

    def __init__(self, scratch: Path, *flags: str):
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "tmp").mkdir(exist_ok=True)
        port = free_port()
        env = {**os.environ, "GRADIO_TEMP_DIR": str(scratch / "gradio"), "TMPDIR": str(scratch / "tmp"),
               "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "SPACE_ID": "abuse/gan-editor"}
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


def new_visitor(url: str, ip: str = "203.0.113.99") -> dict:
    """A fresh client's /segment and /new_image: served (a real answer, not 'Queue is full'), and how fast. The
    visitor comes from an address of their own (the x-forwarded-for the Space's proxy would append)."""
    out = {}
    for name, call in (("segment", lambda c: c.predict(handle_file(str(EXAMPLES[0])), 0.5, api_name="/segment")[3]),
                       ("new_image", lambda c: c.predict(DEMO_MODEL, 7, 0.7, 2e-3, 20, "W+",
                                                          api_name="/new_image")[1])):
        start = time.perf_counter()
        try:
            status = call(Client(url, verbose=False, headers={"x-forwarded-for": ip}))
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


def raw_call(url: str, api: str, data: list, session: str, wait: float = 60, ip: str | None = None) -> tuple[str, str]:
    """A raw /call/<api> post (no gradio_client, no heartbeat), then its answer: (event, data) of the stream.
    `ip`: the x-forwarded-for the app sees (on a Space the proxy appends the sender's address last)."""
    posted = post_call(url, api, data, session, wait, ip)
    return answer_of(url, api, posted, wait) if isinstance(posted, str) else posted


def post_call(url: str, api: str, data: list, session: str, wait: float = 60, ip: str | None = None):
    """The event id of a raw /call/<api> post, or (event, text) when it was not taken."""
    body = json.dumps({"data": data, "session_hash": session}, allow_nan=True)
    headers = {"content-type": "application/json", **({"x-forwarded-for": ip} if ip else {})}
    try:
        posted = httpx.post(url + f"gradio_api/call/{api}", content=body, headers=headers, timeout=wait)
    except httpx.HTTPError as err:
        return "no answer", type(err).__name__
    return posted.json()["event_id"] if posted.status_code == 200 else ("refused", posted.text[:140])


def answer_of(url: str, api: str, event_id: str, wait: float = 60) -> tuple[str, str]:
    """(event, data) of a posted call's stream."""
    event, answer = "", ""
    try:
        with httpx.stream("GET", url + f"gradio_api/call/{api}/{event_id}", timeout=wait) as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, line[5:].strip()[:3000]
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



# ------------------------------------------------------------------ issue 31: what a public Space must not allow

ATTACKER = "198.51.100.7"   # the address the Space's proxy appends for the attacker (last x-forwarded-for entry)
VICTIM = "203.0.113.5"
FILE_META = {"_type": "gradio.FileData"}
RAW_TEXT = RAW + ("invalid literal", "could not convert", "Errno", "No such file", "is a directory")


class Events:
    """Every event of the app by its name, called as the page calls it (POST queue/join, then the session's
    event stream): the events only the page uses (the brush, the mask editor, clicks) too."""

    def __init__(self, url: str):
        self.url = url
        dependencies = httpx.get(url + "config").json()["dependencies"]
        self.fns = {d["api_name"]: (i, d["targets"][0][0] if d["targets"] else None)
                    for i, d in enumerate(dependencies)}

    def __call__(self, api: str, data: list, event_data=None, ip: str | None = None, session: str | None = None,
                 wait: float = 300) -> tuple[str, str]:
        """(event, text): "complete" and the output data as JSON, "error" and its message, or "refused"."""
        session = session or uuid.uuid4().hex
        fn_index, trigger = self.fns[api]
        headers = {"content-type": "application/json", **({"x-forwarded-for": ip} if ip else {})}
        body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": event_data,
                "trigger_id": trigger}
        posted = httpx.post(self.url + "gradio_api/queue/join", content=json.dumps(body, allow_nan=True),
                            headers=headers)
        if posted.status_code != 200:
            return "refused", posted.text[:300]
        with httpx.stream("GET", self.url + "gradio_api/queue/data", params={"session_hash": session},
                          headers=headers, timeout=wait) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if message.get("success"):
                        return "complete", json.dumps(output.get("data"), ensure_ascii=False)
                    return "error", str(output.get("error"))
        return "no answer", ""


def uploaded(url: str, path: Path) -> dict:
    """`path` uploaded as the page uploads it: gradio's file record of the cached copy."""
    with open(path, "rb") as f:
        (cached,) = httpx.post(url + "gradio_api/upload", files={"files": (path.name, f)}, timeout=300).json()
    return {"path": cached, "orig_name": path.name, "meta": FILE_META}


def sentence_in(event: str, text: str) -> str:
    """The status sentence of an event's answer (its longest string that is no HTML), or the error."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    texts = [v for v in data if isinstance(v, str) and not v.startswith("<")] if isinstance(data, list) else []
    return f"{event}: {max(texts, key=len, default=text)[:140]}"


def editor_value(layers=(), composite=None) -> dict:
    return {"background": None, "layers": list(layers), "composite": composite}


def attack_files(server: Server, files: dict) -> dict:
    """Issue 31.1: file records naming server paths and a loopback URL (with and without "meta"), sent to every
    event that takes a file. Leaks: an answer that carries an image, an answer that differs between an existing
    and a missing path (existence), or the bytes of /etc/hostname in an answer."""
    events = Events(server.url)
    secret = server.scratch / "secret.png"
    Image.fromarray(np.full((300, 400, 3), 77, np.uint8)).save(secret)
    cache = server.scratch / "gradio"
    paths = {"secret image": str(secret), "missing": str(server.scratch / "missing.png"), "folder": str(server.scratch),
             "/etc/hostname": "/etc/hostname", "traversal": f"{cache}/../secret.png",
             "loopback URL": server.url + "gradio_api/info"}  # gradio refuses private addresses (SSRF)
    hostname = Path("/etc/hostname").read_bytes()[:8].decode(errors="replace").strip()
    calls = {  # event -> data for a record
        "segment": lambda r: [r, 0.5, None], "paint": lambda r: [r, 0],
        "upload_photo": lambda r: [None, r, DEMO_MODEL, 1],
        "live": lambda r: [r, 0, True], "variation": lambda r: [r],
        "rectangle": lambda r: [r, None, "window"],
        "brushed": lambda r: [editor_value(composite=r)],
        "update_mask": lambda r: [None, editor_value([r]), True],
        "start": lambda r: [None, DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", points((40, 64, 70, 64)), editor_value([r])],
    }
    rows, leaks = {}, []
    for api, data in calls.items():
        answers = {}
        for kind, path in paths.items():
            for meta in (False, True):
                record = {"path": path, **({"meta": FILE_META} if meta else {})}
                session = uuid.uuid4().hex
                if api in ("update_mask", "start"):  # an image to mask first
                    events("new_image", [None, DEMO_MODEL, 0, 0.7, 2e-3, 20, "W+"], session=session)
                event, text = events(api, calls[api](record), event_data={"index": [5, 5], "value": None},
                                     session=session)
                answer = f"{event}: {text.replace(path, '<path>')}"
                answers[(kind, meta)] = re.sub(r"\[\d+,", "[<seed>,", answer, count=1)  # /variation's new seed
                if '"url"' in text or hostname and hostname in text:
                    leaks.append(f"/{api} {kind}: {event}: {text[:100]}")
        for meta in (False, True):
            if answers[("secret image", meta)] != answers[("missing", meta)]:
                leaks.append(f"/{api} meta={meta}: an existing and a missing path answer differently")
        rows[api] = sorted({a[:150] for a in answers.values()})[:3]
    return {"attack": f"file records naming server paths, to {len(calls)} events, {len(paths)} paths, with and "
                      "without meta",
            "leaks": len(leaks), "leak_examples": leaks[:6], "answers": rows,
            "answer": f"{len(leaks)} leaks (an image, a path's existence or a file's bytes)"}


def attack_model(server: Server, files: dict) -> dict:
    """Issue 31.2: model arguments outside the menu, to /upload_photo, /new_image and /start."""
    events = Events(server.url)
    photo = uploaded(server.url, EXAMPLES[0])
    models = ["/etc/hostname", "/tmp", "/nonexistent/g.pkl", "../../etc/passwd", "someone/private-model",
              "https://example.com/g.pkl", 7]
    opened, answers = [], set()
    for model in models:
        for api, data in (("upload_photo", [None, photo, model, 1]),
                          ("new_image", [None, model, 0, 0.7, 2e-3, 20, "W+"]),
                          ("start", [None, model, 0, 0.7, 2e-3, 5, "W+", None, None])):
            event, text = events(api, data)
            if "is not one of" not in text and "should be a valid string" not in text:
                opened.append(f"/{api} {model!r}: {event}: {text[:100]}")
            answers.add(text.replace(repr(str(model)[:60]), "<model>").replace(repr(model), "<model>")[:160])
    return {"attack": f"{len(models)} model arguments outside the menu, to 3 events", "opened": len(opened),
            "examples": opened[:4], "answers": sorted(answers)[:4], "answer": f"{len(opened)} opened"}


def brush_files(folder: Path) -> dict[str, Path]:
    """The largest brush composite and mask layer the limits accept (7300x5475 RGBA = 40 Mpx), a 4000x4000 one,
    and the issue's 1,000,000x8 strip."""
    out = {}
    for name, size in (("7300x5475", (7300, 5475)), ("4000x4000", (4000, 4000)), ("1000000x8", (1_000_000, 8))):
        out[name] = folder / f"brush-{name}.png"
        if not out[name].exists():
            image = Image.new("RGBA", size, (0, 0, 0, 0))
            image.paste((255, 255, 255, 255), (0, 0, size[0] // 2, size[1] // 2))
            image.save(out[name])
    return out


def attack_brush(server: Server, files: dict) -> dict:
    """Issue 31.3: the largest brush composite and mask layers the limits accept, and the strips; peak RSS added."""
    events = Events(server.url)
    brush = {name: uploaded(server.url, path) for name, path in brush_files(server.scratch.parent).items()}

    def masked(api: str, layers: list) -> str:
        session = uuid.uuid4().hex
        events("new_image", [None, DEMO_MODEL, 0, 0.7, 2e-3, 20, "W+"], session=session)
        data = ([None, editor_value(layers), True] if api == "update_mask" else
                [None, DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", points((40, 64, 70, 64)), editor_value(layers)])
        return sentence_in(*events(api, data, session=session))
    def brushed(name: str) -> str:
        return sentence_in(*events("brushed", [editor_value(composite=brush[name])]))
    cases = [("brush composite 7300x5475", lambda: brushed("7300x5475")),
             ("brush composite 4000x4000", lambda: brushed("4000x4000")),
             ("brush composite 1000000x8", lambda: brushed("1000000x8")),
             ("mask editor 4 layers 7300x5475", lambda: masked("update_mask", [brush["7300x5475"]] * 4)),
             ("/start mask 4 layers 7300x5475", lambda: masked("start", [brush["7300x5475"]] * 4)),
             ("mask editor 4 strip layers 1000000x8", lambda: masked("update_mask", [brush["1000000x8"]] * 4)),
             ("mask editor 5 layers", lambda: masked("update_mask", [brush["4000x4000"]] * 5))]
    rows = []
    for name, call in cases:
        answer, seconds, added = measured(server, call)
        rows.append({"attack": name, "peak_added_mb": round(added), "s": round(seconds, 1), "answer": answer[:140]})
    return rows


def attack_identity(server: Server, files: dict) -> dict:
    """Issue 31.4: one client rotating the first x-forwarded-for entry (12 drags); a stranger writing the victim's
    address first; a stranger behind the victim's address pressing Stop while the victim's job waits."""
    def client(forwarded: str) -> Client:
        return Client(server.url, verbose=False, headers={"x-forwarded-for": forwarded})

    def long_drag(c: Client, seed: int = 0):
        return c.submit(DEMO_MODEL, seed, 0.7, 2e-3, 500, "W+", points((20, 20, 110, 110)), None, api_name="/start")
    attackers = [client(f"10.0.{i}.1, {ATTACKER}") for i in range(12)]
    jobs = [long_drag(c, i) for i, c in enumerate(attackers)]
    time.sleep(5)
    admitted = [i for i, job in enumerate(jobs)
                if not job.done() or "already have a job" not in status_of(job.result())]
    claimer = client(f"{VICTIM}, 198.51.100.8")  # writes the victim's address first; the proxy appends its own
    claim_job = long_drag(claimer)
    time.sleep(3)
    victim = client(VICTIM)
    victim_job = long_drag(victim)
    time.sleep(3)
    victim_blocked = victim_job.done() and "already have a job" in status_of(victim_job.result())
    stranger = client(VICTIM)  # another session behind the same address
    stranger_stop = status_of(stranger.predict(api_name="/stop"))
    time.sleep(2)
    cancelled = victim_job.done() and "Stopped" in status_of(victim_job.result())
    own_stop = status_of(victim.predict(api_name="/stop"))
    for c in [claimer] + [attackers[i] for i in admitted]:
        c.predict(api_name="/stop")
    finished = [status_of(j.result(timeout=300))[:60] for j in [claim_job, victim_job] + [jobs[i] for i in admitted]]
    return {"attack": "12 drags rotating the first x-forwarded-for entry; a claimed address; a stranger's Stop",
            "attacker_admitted": len(admitted), "attacker_refused": 12 - len(admitted),
            "claimer_blocks_victim": victim_blocked, "stranger_stop": stranger_stop,
            "stranger_cancelled_victim": cancelled, "victim_own_stop": own_stop, "finished": finished,
            "answer": f"{len(admitted)} of 12 admitted; victim blocked: {victim_blocked}; "
                      f"stranger's Stop cancelled the victim's job: {cancelled}"}


def attack_flood(server: Server, files: dict) -> dict:
    """Issue 31.5: 80 /call/paint posts with a 7300x5475 label map from one client, all at once; while their
    paints run, a new visitor's /segment and /new_image; then RSS 40 s later (memory returned?)."""
    labels = uploaded(server.url, files["40 Mpx 7300x5475"])
    before = server.monitor.rss_mb()
    since = len(server.monitor.samples)
    posted = [None] * 80

    def post(i):
        posted[i] = post_call(server.url, "paint", [labels, i], f"paint-flood-{i}", wait=120, ip=ATTACKER)
    threads = [threading.Thread(target=post, args=(i,)) for i in range(80)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    posted_s = time.perf_counter() - start
    visitor = new_visitor(server.url)
    answers = [answer_of(server.url, "paint", p, wait=600) if isinstance(p, str) else p for p in posted]
    peak = server.peak(since)
    time.sleep(40)
    kinds = {}
    for event, text in answers:
        key = "complete: Rendered" if "Rendered" in text else f"{event}: {text[:60]}"
        kinds[key] = kinds.get(key, 0) + 1
    ranked = sorted(kinds.items(), key=lambda kv: -kv[1])
    return {"attack": "80 /call/paint posts with a 7300x5475 map from one client", "posted_s": round(posted_s, 1),
            "new_visitor": visitor, "flood_answers": dict(ranked[:4]),
            "answer": ", ".join(f"{count}x {kind[:40]}" for kind, count in ranked),
            "rss_before_mb": round(before), "peak_added_mb": round(peak - before),
            "rss_40s_after_mb": round(server.monitor.rss_mb())}


def attack_sentences(server: Server, files: dict) -> dict:
    """Issue 31.6: a bad click index and 1e308 for every number; no raw exception text, no 309-digit echo."""
    events = Events(server.url)
    labels = uploaded(server.url, brush_files(server.scratch.parent)["4000x4000"])
    session = uuid.uuid4().hex
    events("new_image", [None, DEMO_MODEL, 0, 0.7, 2e-3, 20, "W+"], session=session)
    calls = [("rectangle", [labels, None, "window"], {"index": "ab", "value": None}),
             ("rectangle", [labels, None, "window"], {"index": [1e308, "x"], "value": None}),
             ("add_point", [None], {"index": ["a", "b"], "value": None}),
             ("add_point", [None], {"index": 7, "value": None}),
             ("paint", [labels, 1e308], None), ("segment", [uploaded(server.url, EXAMPLES[0]), 1e308, None], None),
             ("new_image", [None, DEMO_MODEL, 1e308, 0.7, 2e-3, 20, "W+"], None),
             ("start", [None, DEMO_MODEL, 0, 0.7, 2e-3, 1e308, "W+", None, None], None),
             ("invert", [None, 1e308, 2], None), ("choose_face", [None, 1e308], None),
             ("preset_smile", [None, 1e308], None)]
    unreadable = []
    for api, data, event_data in calls:
        event, text = events(api, data, event_data=event_data, session=session)
        raw = any(marker in text for marker in RAW_TEXT) or re.search(r"\d{40,}", text)
        if raw or event not in ("complete", "error"):
            unreadable.append(f"/{api} {json.dumps(event_data or data, allow_nan=True)[:40]} -> {event}: {text[:90]}")
    return {"attack": f"{len(calls)} bad click indices and 1e308 numbers", "unreadable": len(unreadable),
            "examples": unreadable[:6]}


def attack_sigterm(server: Server, files: dict) -> dict:
    """Issue 31.6: SIGTERM while a drag streams its frames (image.webp) and segmentations run: run_attack counts
    what is left; and exports count toward the cache cap (this server: --max-cache-gb 0.01)."""
    editor = Client(server.url, verbose=False, headers={"x-forwarded-for": VICTIM})
    upload_photo(editor, files["face 3277x4096"])
    editor.predict(1, 1, api_name="/invert")
    exports = [status_of(editor.predict(api_name="/export"))[:60] for _ in range(3)]
    time.sleep(70)  # files younger than a minute may still be on their way to a client: never trimmed
    disk_after_trim = server.disk_mb()
    drag = Client(server.url, verbose=False, headers={"x-forwarded-for": ATTACKER})
    job = drag.submit(DEMO_MODEL, 0, 0.7, 2e-3, 500, "W+", points((20, 20, 110, 110)), None, api_name="/start")
    segments = [Client(server.url, verbose=False).submit(handle_file(str(EXAMPLES[1])), 0.5, api_name="/segment")
                for _ in range(3)]
    time.sleep(4)
    return {"attack": "SIGTERM during a streaming drag and 3 segmentations; 3 exports under a 10 MB cap",
            "exports": exports[-1], "disk_after_exports_and_trim_mb": round(disk_after_trim, 1),
            "drag_running_at_sigterm": not job.done(), "segments": len(segments),
            "answer": f"disk after 3 exports and a trim: {disk_after_trim:.1f} MB"}


ATTACKS = {"strips": attack_strips, "queue": attack_queue, "evict": attack_evict, "sessions": attack_sessions,
           "disk": attack_disk, "errors": attack_errors, "faces": attack_faces, "files": attack_files,
           "model": attack_model, "brush": attack_brush, "identity": attack_identity, "flood": attack_flood,
           "sentences": attack_sentences, "sigterm": attack_sigterm}


def run_attack(name: str, scratch: Path, files: dict, ttl: float) -> dict:
    """One attack against a server of its own: its figures, and the disk before, after and after SIGTERM."""
    # as on a public Space; the short TTL only where sessions expiring is the point (it would free the victim)
    cap = ("--max-cache-gb", "0.01") if name == "sigterm" else ()
    server = Server(scratch / name, "--session-ttl", str(ttl if name == "sessions" else 1800), "--jobs-per-ip", *cap)
    try:
        disk_before = server.disk_mb()
        args = (server, files, ttl) if name == "sessions" else (server, files)
        figures = ATTACKS[name](*args)
        disk_after = server.disk_mb()
    finally:
        disk_left = server.stop()
    disk = {"before": round(disk_before, 1), "after": round(disk_after, 1), "after_sigterm": round(disk_left, 1)}
    left = [str(p.relative_to(server.scratch)) for p in server.scratch.rglob("*")
            if p.is_file() and p.name not in ("server.log", "secret.png")]
    return {"name": name, "figures": figures, "disk_mb": disk, "files_left_after_sigterm": left[:10]}


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
