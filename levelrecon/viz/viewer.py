"""The browser viewer: a viser server showing clouds, meshes, field cross-sections and loss curves.

Each input is a frame `/<name>` in viser's scene tree, with children `cloud`, `mesh` and `slice` (the field
on a plane, coloured by value, with its zero line `slice/level`); several inputs are placed side by side
along x. The page's controls move the plane and toggle the kinds of object; viser's own scene tree toggles
single objects. The server listens on 127.0.0.1 unless told otherwise: a viewer must not publish a user's
data to the network by default (SSH port forwarding reaches it from another machine).
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from levelrecon.viz.colors import ERROR_CMAP, FIELD_CMAP, colormap, error_range
from levelrecon.viz.scene import SceneItem

AXES = ("x", "y", "z")
SLICE_BOUND = 1.1  # the plane covers [-1.1, 1.1]² of the normalized cloud, the meshing cube
SLICE_RESOLUTION = 160
GAP = 0.25  # between inputs placed side by side, in widths of the widest


class MissingExtraError(RuntimeError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require_viser() -> Any:
    """Import viser, or fail with the pip command that installs it (it is an optional extra)."""
    try:
        import viser
    except ImportError:
        raise MissingExtraError("the viewer needs viser, an optional extra: pip install 'levelrecon[viewer]'"
                                ) from None
    return viser


@dataclass
class _Field:
    """A trained field ready to slice: the network, its level and the map back to original coordinates."""

    fn: Any  # numpy (n, 3) -> (n,), from recon.meshing.torch_field
    level: float
    item: SceneItem


def _load_field(item: SceneItem) -> _Field | None:
    if item.checkpoint is None or item.normalization is None:
        return None
    from levelrecon.recon.checkpoint import load_checkpoint

    method, fn = load_checkpoint(item.checkpoint).field("cpu")
    return _Field(fn, method.mesh_level(), item)


def _plane_rotation(axis: int) -> np.ndarray:
    """Rotation taking an image's local x, y (viser draws images in the local xy plane) to the two other
    world axes in increasing order, as `evaluate_slice` indexes them; the third column keeps det = +1."""
    e = np.eye(3)
    u, v = (i for i in range(3) if i != axis)
    return np.column_stack([e[u], e[v], np.cross(e[u], e[v])])


def slice_image(values: np.ndarray, level: float) -> np.ndarray:
    """(res, res) field values indexed [u, v] -> (res, res, 3) uint8 image, row 0 at the top (max v),
    symmetric colour scale around the level."""
    vmax = float(np.abs(values - level).max()) or 1.0
    return colormap((values - level).T[::-1], -vmax, vmax, FIELD_CMAP)


def level_segments(values: np.ndarray, level: float, axis: int, offset: float) -> np.ndarray:
    """The iso-line {F = level} on the plane as (n, 2, 3) segments in normalized coordinates."""
    from skimage.measure import find_contours

    res = values.shape[0]
    u, v = (i for i in range(3) if i != axis)
    segs = []
    for line in find_contours(values, level):  # (k, 2) in index units of (u, v)
        pts = np.empty((len(line), 3))
        pts[:, axis] = offset
        pts[:, u], pts[:, v] = (-SLICE_BOUND + line.T * (2 * SLICE_BOUND / (res - 1)))
        segs.append(np.stack([pts[:-1], pts[1:]], axis=1))
    return np.concatenate(segs) if segs else np.zeros((0, 2, 3))


def coloured_glb(mesh: trimesh.Trimesh, colors: np.ndarray) -> bytes:
    """A GLB of `mesh` with per-vertex sRGB `colors` (n, 3) uint8, lit like the plain meshes.

    glTF stores vertex colours as linear values, and a mesh without a material is drawn fully metallic
    (the format's default), which washes the colours out: both are set here. Normals are included so that
    the surface is smooth-shaded.
    """
    srgb = colors.astype(np.float64) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    rgba = np.column_stack([(linear * 255).round(), np.full(len(colors), 255)]).astype(np.uint8)
    material = trimesh.visual.material.PBRMaterial(metallicFactor=0.0, roughnessFactor=0.8, doubleSided=True)
    out = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    out.visual = trimesh.visual.TextureVisuals(material=material)
    out.visual.vertex_attributes["color"] = rgba
    return out.export(file_type="glb", include_normals=True)


class Viewer:
    """Serve `items` on http://host:port until :meth:`close`; the scene is built before the first client."""

    def __init__(self, items: list[SceneItem], host: str = "127.0.0.1", port: int = 8080, up: str = "y") -> None:
        self._viser = viser = require_viser()
        self.items = items
        with contextlib.redirect_stdout(io.StringIO()):  # viser's own banner: the command prints the URL once
            self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.clients_seen = 0
        self.nodes: dict[str, Any] = {}  # scene-tree name -> handle
        self._lock = threading.Lock()  # slider callbacks run on viser's threads
        self.server.on_client_connect(self._on_connect)
        self.server.scene.set_up_direction(f"+{up}")
        self.fields = {item.name: f for item in items if (f := _load_field(item)) is not None}
        errors = [i.errors for i in items if i.errors is not None]  # one scale, so that runs compare
        self.error_max = error_range(np.concatenate(errors)) if errors else 1.0
        self._layout(up)
        self._add_objects()
        self._add_gui()
        if self.fields:
            self.update_slices()

    @property
    def url(self) -> str:
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

    def _on_connect(self, client: Any) -> None:
        with self._lock:
            self.clients_seen += 1

    def _layout(self, up: str) -> None:
        """Place the inputs side by side along x and aim the initial camera at all of them."""
        boxes = [item.bounds() for item in self.items]
        width = max(float((hi - lo).max()) for lo, hi in boxes)
        self.positions, x = [], 0.0
        for lo, hi in boxes:
            self.positions.append(np.array([x - lo[0], 0.0, 0.0]))
            x += float(hi[0] - lo[0]) + GAP * width
        placed = [(lo + p, hi + p) for (lo, hi), p in zip(boxes, self.positions, strict=True)]
        lo, hi = np.min([b[0] for b in placed], axis=0), np.max([b[1] for b in placed], axis=0)
        self.point_size = 0.004 * width
        centre, extent = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
        self.server.initial_camera.look_at = centre
        e = np.eye(3)
        up_v, front = e[AXES.index(up)], (-e[1] if up == "z" else e[2])  # a front view, a little from above
        self.server.initial_camera.position = centre + extent * (0.2 * e[0] + 0.3 * up_v + 0.75 * front)

    def _add_objects(self) -> None:
        scene = self.server.scene
        for item, pos in zip(self.items, self.positions, strict=True):
            root = f"/{item.name}"
            self.nodes[root] = scene.add_frame(root, position=pos, show_axes=False)
            if item.points is not None:
                self.nodes[f"{root}/cloud"] = scene.add_point_cloud(
                    f"{root}/cloud", item.points.astype(np.float32), (40, 40, 40), point_size=self.point_size)
            if item.mesh is not None:
                self.nodes[f"{root}/mesh"] = self._add_mesh(f"{root}/mesh", item)
            elif item.curve is not None:  # a curve run's polyline stands where a mesh would
                verts, edges = item.curve
                self.nodes[f"{root}/mesh"] = scene.add_line_segments(
                    f"{root}/mesh", verts[edges].astype(np.float32), (40, 90, 200), thickness=3.0,
                    thickness_units="screen")
            if item.name in self.fields:  # a frame, so that hiding it hides the image and the line it holds
                self.nodes[f"{root}/slice"] = scene.add_frame(f"{root}/slice", show_axes=False)

    def _add_mesh(self, name: str, item: SceneItem) -> Any:
        mesh = item.mesh
        if item.errors is None:
            return self.server.scene.add_mesh_simple(name, np.asarray(mesh.vertices, dtype=np.float32),
                                                     np.asarray(mesh.faces, dtype=np.uint32),
                                                     color=(170, 185, 215), side="double")
        colors = colormap(item.errors, 0.0, self.error_max, ERROR_CMAP)
        return self.server.scene.add_glb(name, coloured_glb(mesh, colors))

    def _add_gui(self) -> None:
        gui = self.server.gui
        lines = [f"- **{it.name}**: {it.source}" + (f", distance to ground truth: mean {it.errors.mean():.3g}"
                                                   if it.errors is not None else "") for it in self.items]
        if any(it.errors is not None for it in self.items):
            lines.append(f"\nmesh colour: distance to ground truth, 0 → {self.error_max:.3g} ({ERROR_CMAP})")
        gui.add_markdown("\n".join(lines))
        with gui.add_folder("Show"):
            for kind in ("cloud", "mesh", "slice"):
                box = gui.add_checkbox(kind, initial_value=True)
                box.on_update(lambda _, kind=kind, box=box: self.set_visible(kind, box.value))
        with gui.add_folder("Cross-section", visible=bool(self.fields)):
            self.axis = gui.add_dropdown("axis", AXES, initial_value="z")
            self.offset = gui.add_slider("offset", min=-1.0, max=1.0, step=0.01, initial_value=0.0,
                                         hint="plane position in normalized units (the cloud spans [-1, 1])")
            gui.add_markdown(f"colour: field − level ({FIELD_CMAP}: blue inside, red outside); black: the level set")
            self.axis.on_update(lambda _: self.update_slices())
            self.offset.on_update(lambda _: self.update_slices())
        with gui.add_folder("Training loss", visible=any(it.history for it in self.items)):
            for item in self.items:
                if item.history and "loss" in item.history[0]:
                    self._add_loss(item)

    def _add_loss(self, item: SceneItem) -> None:
        steps = np.array([h["step"] for h in item.history], dtype=np.float64)
        loss = np.array([h["loss"] for h in item.history], dtype=np.float64)
        self.server.gui.add_uplot((steps, np.maximum(loss, 1e-12)),
                                  ({"label": "step"}, {"label": "loss", "stroke": "#1f77b4", "width": 1.5}),
                                  title=item.name, scales={"x": {"time": False}, "y": {"distr": 3}}, aspect=1.6)

    def set_visible(self, kind: str, visible: bool) -> None:
        """Show or hide every object of one kind (cloud, mesh, slice)."""
        for name, handle in self.nodes.items():
            if name.endswith(f"/{kind}"):
                handle.visible = visible

    def update_slices(self) -> None:
        """Evaluate every field on the current plane and replace its image and level line."""
        from levelrecon.recon.meshing.marching import evaluate_slice

        axis, offset = AXES.index(self.axis.value), float(self.offset.value)
        wxyz = self._viser.transforms.SO3.from_matrix(_plane_rotation(axis)).wxyz
        with self._lock:
            for name, field in self.fields.items():
                norm = field.item.normalization
                values = evaluate_slice(field.fn, axis, offset, SLICE_RESOLUTION, (-SLICE_BOUND, SLICE_BOUND))
                centre = np.zeros((1, 3))
                centre[0, axis] = offset
                size = 2 * SLICE_BOUND * norm.scale
                self.nodes[f"/{name}/slice/image"] = self.server.scene.add_image(
                    f"/{name}/slice/image", slice_image(values, field.level), size, size, format="png", wxyz=wxyz,
                    position=norm.invert(centre)[0])
                segs = level_segments(values, field.level, axis, offset)
                old = self.nodes.pop(f"/{name}/slice/level", None)
                if len(segs):  # re-adding a name replaces the object
                    pts = norm.invert(segs.reshape(-1, 3)).reshape(-1, 2, 3).astype(np.float32)
                    self.nodes[f"/{name}/slice/level"] = self.server.scene.add_line_segments(
                        f"/{name}/slice/level", pts, (0, 0, 0), thickness=2.0, thickness_units="screen")
                elif old is not None:  # the plane misses the surface
                    old.remove()

    def wait(self, timeout: float | None = None) -> None:
        """Block until Ctrl-C (KeyboardInterrupt propagates) or `timeout` seconds."""
        end = None if timeout is None else time.monotonic() + timeout
        while end is None or time.monotonic() < end:
            time.sleep(0.2 if end is None else min(0.2, max(end - time.monotonic(), 0.0)))

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # viser prints "Server stopped" on stdout
            self.server.stop()
