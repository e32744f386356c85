"""A public Space one visitor cannot break (issue 23): the upload size limit, files deleted at shutdown, idle
sessions freed with their memory and files (raw API clients too), one slow job per client in a lane of its
own (fast requests and Stop pass a flooded one), step counts within the limits, as a server sees them."""
from __future__ import annotations

import gc
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import gradio as gr
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from common.images import MAX_UPLOAD_BYTES  # noqa: E402
from conftest import REPO, free_port, local_model  # noqa: E402
from editor import Refused  # noqa: E402
from editor.models import DEMO_MODEL  # noqa: E402
from ui import AppConfig, build_app  # noqa: E402
from ui.lanes import STOPPED_WAITING, SlowLane  # noqa: E402
from editor.files import SESSIONS_ROOT, session_dir  # noqa: E402
import ui.sessions  # noqa: E402
from ui.sessions import MIN_CACHE_AGE_S, SessionReaper, trim_cache  # noqa: E402
from ui.fast_lane import TOO_MANY, UNEXPECTED, FastLane, guarded  # noqa: E402
from ui.lanes import client_ip  # noqa: E402
from benchmarks.abuse import (ATTACKER, FILE_META, VICTIM, Events, answer_of, editor_value, post_call,  # noqa: E402
                              uploaded)
from segmentation import PALETTE  # noqa: E402


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {seconds} s")


def test_uploads_over_the_limit_are_refused_and_a_sigterm_deletes_every_cached_file(tmp_path):
    """`python app.py` as a Space starts it: a 1 GiB upload was accepted (4 s), and after it stopped, every
    gradio file was left behind; a drag streaming at SIGTERM aborted the process (issue 31.6: image.webp left)."""
    cache = tmp_path / "gradio"
    port = free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(cache), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url)
        big = tmp_path / "big.png"
        with open(big, "wb") as f:
            f.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: nothing written to disk here
        with open(big, "rb") as f:
            refused = httpx.post(url + "gradio_api/upload", files={"files": f}, timeout=120)
        assert refused.status_code == 413 and "maximum allowed size of 209715200 bytes" in refused.text
        photo = tmp_path / "photo.png"
        Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(photo)
        with open(photo, "rb") as f:
            (kept,) = httpx.post(url + "gradio_api/upload", files={"files": f}, timeout=60).json()
        assert os.path.isfile(kept)
        drag = Client(url, verbose=False).submit(*start_args(500), api_name="/start")
        wait_until(lambda: any("step" in (o[1] or "") for o in drag.outputs()), 60)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not os.path.exists(kept) and not [p for p in cache.rglob("*") if p.is_file()]
    finally:
        server.kill()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path_factory.mktemp("no-checkpoints")))
        demo = build_app(AppConfig(device="cpu", demo=True, session_ttl=3600))
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield demo, f"http://127.0.0.1:{port}/"
        demo.reaper.stop()
        demo.close()


def drag_state(demo, session: str):
    """The visitor's DragState (gr.State value) as the server holds it."""
    values = demo.state_holder.session_data[session].state_data.values()
    return next(v for v in values if hasattr(v, "running") and hasattr(v, "session"))


def test_idle_sessions_are_freed_with_their_memory_and_files_raw_api_clients_too(app):
    """gradio expires a gr.State only after it is *written*; ours change in place, and raw clients never close."""
    demo, url = app
    idle, active = Client(url, verbose=False), Client(url, verbose=False)
    for c in (idle, active):
        c.predict(DEMO_MODEL, 3, 0.7, 2e-3, 20, "W+", api_name="/new_image")
    raw = httpx.post(url + "gradio_api/call/clear_points", json={"data": [], "session_hash": "made-up-hash"})
    assert raw.status_code == 200
    httpx.get(url + f"gradio_api/call/clear_points/{raw.json()['event_id']}", timeout=60)
    state = weakref.ref(drag_state(demo, idle.session_hash))
    (session_dir(idle.session_hash) / "export.png").write_bytes(b"x")
    reaper = SessionReaper(demo, ttl=3600)
    later = time.time() + 1800
    assert reaper.sweep(now=later) == []  # nobody has been idle for an hour yet
    active.predict(api_name="/clear_points")  # used just now
    drag_state(demo, active.session_hash).running = True  # and a job runs: never freed mid-run
    freed = reaper.sweep(now=time.time() + 3601)
    assert idle.session_hash in freed and "made-up-hash" in freed and active.session_hash not in freed
    gc.collect()
    assert state() is None, "the idle visitor's DragState (and its generator session) is still referenced"
    assert not (SESSIONS_ROOT / idle.session_hash).exists()
    drag_state(demo, active.session_hash).running = False
    _, status, _ = idle.predict(api_name="/clear_points")
    assert "press **New image**" in status  # a freed visitor starts again, with no error


def test_the_cache_is_trimmed_to_its_cap_oldest_first_never_a_file_just_written(app, monkeypatch, tmp_path):
    """Issue 23.5: the schedule deletes by age only; a client writing 200 MB uploads as fast as it can would not
    wait for it."""
    demo, url = app
    monkeypatch.setattr(ui.sessions, "SESSIONS_ROOT", tmp_path)  # no session files that other tests left, held
    trim_cache(demo, max_bytes=0, now=time.time() + MIN_CACHE_AGE_S + 1)  # what earlier tests of this module left
    uploads = []
    for index in range(3):
        with open(__file__, "rb") as f:  # any file will do
            (path,) = httpx.post(url + "gradio_api/upload", files={"files": (f"f{index}.txt", f)}).json()
        uploads.append(path)
        time.sleep(0.05)
    size = os.path.getsize(uploads[0])
    assert trim_cache(demo, max_bytes=0) == 0  # all too young: they may be on their way to a client
    freed = trim_cache(demo, max_bytes=size, now=time.time() + MIN_CACHE_AGE_S + 1)  # room for one file
    assert freed >= 2 * size and os.path.isfile(uploads[2])  # the newest stays
    assert not os.path.exists(uploads[0]) and not os.path.exists(uploads[1])


# ----------------------------------------------------------------------------- the slow lane

def test_the_slow_lane_runs_waits_refuses_and_lets_a_waiting_job_be_stopped():
    lane = SlowLane(running=1, waiting=1)
    events = []

    def job(client, hold):
        try:
            with lane.admitted(client, "drag", 100):
                events.append(f"{client} runs")
                hold.wait(10)
        except Refused as err:
            events.append(f"{client}: {err}")
    holds = {c: threading.Event() for c in "ab"}
    runner = threading.Thread(target=job, args=("a", holds["a"]))
    runner.start()
    wait_until(lambda: "a runs" in events)
    waiter = threading.Thread(target=job, args=("b", holds["b"]))
    waiter.start()
    wait_until(lambda: "b" in lane._queue)
    with pytest.raises(Refused, match=r"already have a job running or waiting"):
        with lane.admitted("a", "invert", 10):
            pass
    busy = r"The server is busy\*\* \(1 jobs running, 1 waiting\)\. Try again in about \d+ s"
    with pytest.raises(Refused, match=busy):
        with lane.admitted("c", "drag", 10):
            pass
    assert lane.cancel("b") and not lane.cancel("b")
    waiter.join(5)
    assert events[-1] == f"b: {STOPPED_WAITING}"
    holds["a"].set()
    runner.join(5)
    with lane.admitted("c", "drag", 10):  # the slot is free again
        pass


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def portraits(tmp_path_factory) -> str:
    """A model the public app offers that may draw faces (in its checkpoints folder), for the no-face message."""
    return local_model(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="module")
def public(portraits):
    """The app as on a public Space: SPACE_ID set, so a client is the address the proxy appends to
    x-forwarded-for (here, without one, the socket's); one slow job per IP, one drag at a time, two more may wait."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DRAGGAN_CHECKPOINTS", str(Path(portraits).parent))
        env.setenv("SPACE_ID", "tests/gan-editor")
        demo = build_app(AppConfig(device="cpu", demo=True, max_drags=1, max_waiting=2, jobs_per_ip=True))
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    max_threads=80, show_error=True)
        yield f"http://127.0.0.1:{port}/"
        demo.close()


def start_args(max_steps: int, pair=(20, 20, 110, 110)) -> tuple:
    table = {"headers": ["handle x", "handle y", "target x", "target y"], "data": [list(pair)]}
    return DEMO_MODEL, 0, 0.7, 2e-3, max_steps, "W+", table, None


def test_one_slow_job_per_ip_a_fast_lane_under_a_flood_and_stop_through_a_full_queue(public):
    """Issue 23.2: a long drag, then 70 raw /call/start posts under made-up session hashes (one IP)."""
    hog = Client(public, verbose=False)
    job = hog.submit(*start_args(500), api_name="/start")
    wait_until(lambda: any("step" in (o[1] or "") for o in job.outputs()), 60)
    started = time.perf_counter()
    flood = [httpx.post(public + "gradio_api/call/start", json={"data": list(start_args(500)),
                                                              "session_hash": f"flood-{i}"}) for i in range(70)]
    assert all(r.status_code == 200 for r in flood)
    answer = httpx.get(public + f"gradio_api/call/start/{flood[-1].json()['event_id']}", timeout=30).text
    assert "already have a job running or waiting" in answer
    visitor = Client(public, verbose=False)
    _, status, *_ = visitor.predict(DEMO_MODEL, 5, 0.7, 2e-3, 20, "W+", api_name="/new_image")
    assert "New image: seed 5" in status
    *_, status = visitor.predict(handle_file(str(REPO / "assets/examples/facade_020.jpg")), 0.5,
                                 api_name="/segment")
    assert "Segmented" in status and time.perf_counter() - started < 60
    _, status, _ = visitor.predict(*start_args(5), api_name="/start")  # same IP: refused, with the reason
    assert "already have a job running or waiting" in status
    stop_started = time.perf_counter()
    assert "Stopping" in hog.predict(api_name="/stop")
    assert time.perf_counter() - stop_started < 5
    assert "stopped on request" in job.result(timeout=60)[1]


def test_step_counts_over_the_limits_are_refused_with_the_limit(public):
    c = Client(public, verbose=False)
    _, status, _ = c.predict(*start_args(501), api_name="/start")
    assert "at most **500 drag steps** per job (asked: 501)" in status and "--max-drag-steps" in status


@pytest.mark.parametrize("api, data, sentence", [
    ("start", [DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", "a string", None], "the points table must be a table"),
    ("start", [DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+", None, "a string"], "the mask must be an image editor value"),
    ("segment", ["not a file", 0.5, None], "the photo must be an uploaded image file"),
    ("upload_photo", ["not a file", DEMO_MODEL, 1], "the photo must be an uploaded image file"),
    ("invert", [math.nan, 2], "Invalid inversion settings: steps"),
    ("choose_face", ["two"], "Upload a photo first"),
    ("preset_smile", ["strong"], "the strength must be a number from 0 to 1, got 'strong'"),
])
def test_bad_arguments_get_a_sentence_not_a_dump(public, api, data, sentence):
    """Issue 23.6: gradio's "Could not preprocess input component" and pydantic's dumps reached API clients."""
    body = json.dumps({"data": data, "session_hash": f"bad-{api}"}, allow_nan=True)
    posted = httpx.post(public + f"gradio_api/call/{api}", content=body, headers={"content-type": "application/json"})
    answer = httpx.get(public + f"gradio_api/call/{api}/{posted.json()['event_id']}", timeout=60).text
    assert sentence in answer and "validation error" not in answer and "Could not preprocess" not in answer


def test_no_face_states_the_minimum_in_the_pixels_of_the_photo_as_sent(public, portraits, tmp_path):
    """A 7300 px photo is read at 4096 px and detected at 2560 px: dlib's 80 px are 228 px of the photo sent."""
    wall = tmp_path / "wall.jpg"
    Image.new("RGB", (7300, 5475), (128, 128, 128)).save(wall)
    status = Client(public, verbose=False).predict(handle_file(str(wall)), portraits, 1, api_name="/upload_photo")[1]
    assert "at least about 228 px wide" in status


# ------------------------------------------------------------------ issue 31: what a public Space must not allow

def test_file_records_naming_server_paths_are_refused_alike_by_every_event(public, tmp_path):
    """Issue 31.1: {"path": "/any/image.png"} (no "meta") came back from /segment as the overlay; the error told
    whether a path exists."""
    events = Events(public)
    secret = tmp_path / "secret.png"
    Image.fromarray(np.full((128, 128, 3), 77, np.uint8)).save(secret)
    calls = {"segment": lambda r: [r, 0.5, None], "paint": lambda r: [r, 0],
             "upload_photo": lambda r: [None, r, DEMO_MODEL, 1], "rectangle": lambda r: [r, None, "window"]}
    for api, data in calls.items():
        answers = set()
        for path in (secret, tmp_path / "missing.png", tmp_path, "/etc/hostname",
                     f"{tmp_path}/../{tmp_path.name}/secret.png"):
            event, text = events(api, data({"path": str(path)}), event_data={"index": [1, 1], "value": None})
            answers.add(f"{event}: {text.replace(str(path), '<path>')}")
        (answer,) = answers  # the same sentence whether the path exists, is a folder or is no image
        assert "must be an uploaded image file sent to this app" in answer and '"url"' not in answer, answer
    for api, data in (("brushed", lambda r: [editor_value(composite=r)]),
                      ("update_mask", lambda r: [None, editor_value([r]), True])):
        event, text = events(api, data({"path": str(secret), "meta": FILE_META}))  # gradio's own check
        assert event == "error" and "not uploaded by a user" in text
        event, text = events(api, data({"path": str(secret)}))  # and without meta: a sentence, not pydantic's dump
        assert event == "error" and "must be an image editor value" in text and "validation error" not in text
    _, text = events("segment", [uploaded(public, secret), 0.5, None])  # what the visitor uploaded is read
    assert "Segmented a 128×128 photo" in text
    _, text = events("segment", [{"path": str(REPO / "assets/examples/facade_020.jpg")}, 0.5, None])  # an example
    assert "Segmented" in text


@pytest.mark.parametrize("model", ["/etc/hostname", "/tmp", "../../etc/passwd", "someone/private-model", 7])
def test_a_model_argument_outside_the_menu_is_never_opened(public, model):
    """Issue 31.2: /upload_photo(photo, "/etc/hostname", 1) answered with the file's first bytes."""
    photo = handle_file(str(REPO / "assets/examples/facade_020.jpg"))
    status = Client(public, verbose=False).predict(photo, model, 1, api_name="/upload_photo")[1]
    assert f"Model {str(model)!r} is not one of the" in status and "choose one from the menu" in status


def test_a_client_is_the_address_the_proxy_appends_not_what_it_wrote(monkeypatch):
    request = SimpleNamespace(headers={"x-forwarded-for": "10.0.0.1, 198.51.100.7"},
                              client=SimpleNamespace(host="10.16.3.80"))
    monkeypatch.setenv("SPACE_ID", "tests/gan-editor")
    assert client_ip(request) == "198.51.100.7"
    monkeypatch.delenv("SPACE_ID")  # off a Space the header could be anyone's
    assert client_ip(request) == "10.16.3.80"


def test_rotating_x_forwarded_for_gets_one_job_and_a_strangers_stop_cancels_nothing(public):
    """Issue 31.4: 12 inversions rotating the first x-forwarded-for entry were all admitted; a Stop from another
    session behind the same address cancelled the victim's waiting job."""
    def client(forwarded: str) -> Client:
        return Client(public, verbose=False, headers={"x-forwarded-for": forwarded})
    attackers = [client(f"10.0.{i}.1, {ATTACKER}") for i in range(6)]
    jobs = [c.submit(*start_args(500), api_name="/start") for c in attackers]
    wait_until(lambda: sum(job.done() for job in jobs) == 5, 60)
    assert all("already have a job running or waiting" in job.result()[1] for job in jobs if job.done())
    (running,) = [c for c, job in zip(attackers, jobs) if not job.done()]
    victim = client(f"{ATTACKER.replace('7', '9')}, {VICTIM}")  # also writes a first entry: it is not who they are
    victim_job = victim.submit(*start_args(5), api_name="/start")
    time.sleep(2)
    assert not victim_job.done()  # waiting for the attacker's drag, not refused as the attacker
    assert client(VICTIM).predict(api_name="/stop") == "Nothing is running."  # a stranger behind their address
    time.sleep(1.5)
    assert not victim_job.done()
    assert victim.predict(api_name="/stop") == STOPPED_WAITING
    assert victim_job.result(timeout=30)[1] == STOPPED_WAITING
    assert "Stopping" in running.predict(api_name="/stop")


def test_a_paint_flood_from_one_client_leaves_a_new_visitor_served(public, tmp_path):
    """Issue 31.5: 80 /call/paint posts with a 7300x5475 map from one client filled gradio's queue (HTTP 503);
    here 40 at once, and while their paints run a new visitor's /segment is served within 5 s."""
    big = tmp_path / "map.png"
    Image.new("RGB", (7300, 5475), tuple(int(c) for c in PALETTE[3])).save(big)
    labels = uploaded(public, big)
    posted = [None] * 40

    def post(i):
        posted[i] = post_call(public, "paint", [labels, i], f"paint-flood-{i}", wait=120, ip=ATTACKER)
    flood = [threading.Thread(target=post, args=(i,)) for i in range(40)]
    for thread in flood:
        thread.start()
    for thread in flood:
        thread.join(120)
    assert all(isinstance(event_id, str) for event_id in posted)  # every post taken: never "Queue is full"
    started = time.perf_counter()
    visitor = Client(public, verbose=False, headers={"x-forwarded-for": VICTIM})
    *_, status = visitor.predict(handle_file(str(REPO / "assets/examples/facade_020.jpg")), 0.5, api_name="/segment")
    assert "Segmented" in status and time.perf_counter() - started < 5
    answers = [answer_of(public, "paint", event_id, wait=300)[1] for event_id in posted]
    told = sum("requests running or waiting on this server" in text for text in answers)
    assert told >= 20, [text[-120:] for text in answers[:3]]  # told why
    assert sum("Rendered" in text for text in answers) >= 2


def test_the_fast_lane_gives_each_client_a_share_and_refuses_the_rest():
    lane = FastLane(running=2, per_client=1, waiting=1)
    events, hold = [], threading.Event()

    def request(client):
        try:
            with lane.admitted(client):
                events.append(f"{client} runs")
                hold.wait(10)
        except gr.Error as err:
            events.append(f"{client}: {err.message}")
    threads = [threading.Thread(target=request, args=(c,)) for c in ("a", "a", "a")]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    wait_until(lambda: len(events) == 2)
    assert events == ["a runs", "a: " + TOO_MANY.format(count=2)]  # one runs, one waits, the third is told why
    other = threading.Thread(target=request, args=("b",))
    other.start()
    wait_until(lambda: "b runs" in events)  # a's waiting request does not keep b out
    hold.set()
    for thread in threads + [other]:
        thread.join(5)
    assert events.count("a runs") == 2


def test_an_unexpected_error_reaches_the_client_as_a_sentence():
    """Issue 31.6: raw exception text ("invalid literal for int() with base 10: 'a'") reached the client."""
    def handler(value):
        return int(value)
    with pytest.raises(gr.Error) as err:
        guarded(handler, None)("a")
    assert err.value.message == UNEXPECTED and "invalid literal" not in str(err.value)
    with pytest.raises(gr.Error, match="already have"):
        guarded(lambda: (_ for _ in ()).throw(Refused("You already have a job")), None)()


def test_a_session_folder_removed_mid_sweep_does_not_stop_the_reaper(app, monkeypatch):
    """A visitor's session can end while the reaper walks the sessions' folders, and the reaper must go on sweeping."""
    demo, _ = app
    folder = session_dir("vanishing")
    (folder / "export").mkdir(exist_ok=True)
    (folder / "export" / "drag.png").write_bytes(b"x")
    real_scandir = os.scandir

    def vanishing(path):
        if Path(path).name == "export":
            raise FileNotFoundError(2, "No such file or directory", str(path))  # removed under the walk
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", vanishing)
    trim_cache(demo, max_bytes=0, now=time.time() + MIN_CACHE_AGE_S + 1)  # no error
    monkeypatch.setattr(os, "scandir", real_scandir)
    sweeps = []

    def failing_sweep(now=None):
        sweeps.append(now)
        raise RuntimeError("one bad sweep")
    reaper = SessionReaper(demo, every=0.05)
    monkeypatch.setattr(reaper, "sweep", failing_sweep)
    reaper.start()
    try:
        deadline = time.time() + 10
        while len(sweeps) < 3 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        reaper.stop()
    assert len(sweeps) >= 3, "the thread went on after a sweep failed"


def test_exports_count_toward_the_cache_cap_and_a_spilled_generator_is_kept(app):
    demo, _ = app
    folder = session_dir("cap-test")
    (folder / "export").mkdir(exist_ok=True)
    export, spilled = folder / "export" / "drag.mp4", folder / "tuned.safetensors"
    export.write_bytes(b"x" * 1000)
    spilled.write_bytes(b"x" * 1000)
    trim_cache(demo, max_bytes=1500, now=time.time() + MIN_CACHE_AGE_S + 1)
    assert not export.exists() and spilled.exists()
