"""`levelrecon view`: the viser server, its scene, and the page in a real headless Chromium (OS package)."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import run, sphere_points

from levelrecon.recon.data.io import write_mesh, write_points

viser = pytest.importorskip("viser", reason="the viewer extra is not installed: pip install 'levelrecon[viewer]'")

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def meshed_run(tmp_path_factory) -> Path:
    """A tiny trained and meshed run: field, cloud, mesh and loss log, as `fit` + `mesh` leave them."""
    root = tmp_path_factory.mktemp("view")
    write_points(sphere_points(800, radius=0.8, seed=2), root / "ball.ply")
    r = run("fit", root / "ball.ply", "--method", "igr", "--field", "mlp", "--iters", "20", "--width", "32",
            "--depth", "2", "-o", root / "ball_run", "-q")
    assert r.exit_code == 0, r.output
    assert run("mesh", root / "ball_run", "--resolution", "32", "-q").exit_code == 0
    write_mesh(trimesh.creation.icosphere(3, radius=0.8), root / "truth.ply")
    return root / "ball_run"


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_cross_section_image_matches_the_plane(axis):
    """The image drawn in the plane shows at each pixel the field at that pixel's place: a linear field
    against the reference value, under viser's image convention (columns along local +x, row 0 at local +y,
    the image in the local xy plane)."""
    from levelrecon.recon.meshing.marching import evaluate_slice
    from levelrecon.viz.colors import FIELD_CMAP, colormap
    from levelrecon.viz.viewer import SLICE_BOUND, _plane_rotation, slice_image

    w, offset, res = np.array([1.0, -2.0, 3.0]), 0.25, 9
    values = evaluate_slice(lambda p: p @ w, axis, offset, res, (-SLICE_BOUND, SLICE_BOUND))
    image = slice_image(values, 0.0)
    t = np.linspace(-SLICE_BOUND, SLICE_BOUND, res)
    local = np.stack([*np.meshgrid(t, t[::-1], indexing="xy"), np.zeros((res, res))], axis=-1)  # [row, col]
    world = local @ _plane_rotation(axis).T
    world[..., axis] = offset
    vmax = np.abs(values).max()
    np.testing.assert_array_equal(image, colormap(world @ w, -vmax, vmax, FIELD_CMAP))
    assert np.isclose(np.linalg.det(_plane_rotation(axis)), 1.0)


def test_view_command_prints_url_serves_the_page_and_stops(meshed_run):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "levelrecon", "view", str(meshed_run), "--port", str(port),
                             "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, line + proc.stderr.read()
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=10).read().decode()
        assert "<html" in page.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_timeout_stops_the_viewer_and_host_defaults_to_loopback(meshed_run):
    r = run("view", meshed_run / "mesh.ply", "--port", free_port(), "--timeout", "0.5")
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:" in r.stdout and "viser" not in r.stdout  # one URL line, not viser's banner


def test_missing_viser_names_the_extra(monkeypatch, meshed_run):
    monkeypatch.setitem(sys.modules, "viser", None)  # what an environment without the extra looks like
    r = run("view", meshed_run)
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "levelrecon[viewer]" in lines[0]


def test_bad_input_exits_2(tmp_path):
    r = run("view", tmp_path / "nothing.ply", "--timeout", "0.1")
    assert r.exit_code == 2 and "does not exist" in r.stderr


class Chromium:
    """Headless Chromium driven over the DevTools protocol (a websocket: viser brings `websockets`), so the
    test can wait for the page instead of guessing a time budget."""

    def __init__(self, profile: Path, size: tuple[int, int] = (640, 480)) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--enable-unsafe-swiftshader",
                                      "--use-angle=swiftshader", "--remote-debugging-port=0", "--no-first-run",
                                      f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                                      "about:blank"], stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if found := re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line):
                break
        else:
            raise RuntimeError("chromium did not start its DevTools server")
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/json/list", timeout=10))
        url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self.ws = connect(url, max_size=2**27)
        self.ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while (msg := json.loads(self.ws.recv(timeout=60))).get("id") != i:
            pass
        assert "error" not in msg, msg
        return msg["result"]

    def text(self) -> str:
        return self.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)[
            "result"].get("value") or ""

    def screenshot(self) -> np.ndarray:
        from PIL import Image

        png = base64.b64decode(self.call("Page.captureScreenshot", format="png", optimizeForSpeed=True)["data"])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)


def port_forward(target: int) -> int:
    """Forward a new local port to `target`, as `ssh -L new:127.0.0.1:target host` does (without sshd): the
    page must reach its websocket through the port the browser used, not the server's own."""
    import asyncio
    import threading

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        r2, w2 = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(reader, w2), pipe(r2, writer), return_exceptions=True)

    port, ready = free_port(), threading.Event()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    ready.wait(10)
    return port


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)")
def test_page_in_headless_chromium_through_a_port_forward(meshed_run, tmp_path):
    from levelrecon.viz.scene import load_scene
    from levelrecon.viz.viewer import Viewer

    items = load_scene([meshed_run, meshed_run.parent / "truth.ply"], gt=meshed_run.parent / "truth.ply")
    viewer = Viewer(items, port=free_port())
    browser = Chromium(tmp_path / "profile")
    try:
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port_forward(viewer.server.get_port())}")
        deadline = time.monotonic() + 30
        while not all(s in (text := browser.text()) for s in ("ball_run", "truth", "Cross-section")):
            assert time.monotonic() < deadline, f"the viewer's controls never appeared: {text!r}"
            time.sleep(0.3)
        assert viewer.clients_seen == 1
        for node in ("/ball_run/cloud", "/ball_run/mesh", "/ball_run/slice", "/ball_run/slice/image",
                     "/ball_run/slice/level", "/truth/mesh"):
            assert node in viewer.nodes, node
        assert "/truth/slice" not in viewer.nodes  # a mesh file has no field
        before = viewer.nodes["/ball_run/slice/image"]
        viewer.axis.value = "x"  # as the dropdown does: the plane turns, its image and level line are redrawn
        while viewer.nodes["/ball_run/slice/image"] is before:
            assert time.monotonic() < deadline, "changing the axis did not redraw the cross-section"
            time.sleep(0.1)
        assert "/ball_run/slice/level" in viewer.nodes
        time.sleep(1.0)  # objects fade in
        shot = browser.screenshot()
        h, w, _ = shot.shape
        canvas = shot[h // 4:, w // 8: w * 5 // 8]  # where the objects are: below the notice, left of the controls
        assert canvas.std() > 5, "the 3-D view is blank"
        assert len(np.unique(canvas.reshape(-1, 3), axis=0)) > 100
    finally:
        browser.close()
        viewer.close()
