"""The embedded default benchmark: procedurally rendered clips with exact ground truth.

A textured subject (disc, blob or rounded rectangle) moves over a textured background
along a known trajectory. Every frame is rendered by inverse-mapping its pixels through
known affine maps (``cv2.warpAffine`` of a texture canvas), so the ground truth is exact
by construction:

- ``masks[t]``: pixel (row i, col j) is subject iff its centre ``(x=j, y=i)`` maps back
  inside the subject's shape (evaluated analytically, not by thresholding a warped image);
- ``tracks[t, n]``: the forward affine of frame t applied to point n's canvas position;
- ``visible[t, n]``: inside the frame and, for background points, not behind the subject.

Coordinates follow OpenCV: pixel centres at integer ``(x, y) = (col, row)``.
numpy + cv2 only (no torch). Below data, generators and checks: the `synthetic` dataset
(evalkit.data.synthetic), reference generators and tracker checks all render through it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .errors import InvalidInputError
from .hashing import stable_hash
from .synthetic_motion import MOTIONS, affine, apply_affine, invert_affine, trajectory
from .video import Video

#: bump whenever a change alters rendered pixels or ground truth (enters fingerprints)
RENDERER_VERSION = "1"

SHAPES = ("disc", "blob", "rounded-rectangle")

# (name, RGB base, RGB accent) for subjects; backgrounds use other hues (green/blue/grey).
_SUBJECT_PALETTES = (
    ("red", (200, 40, 40), (250, 170, 60)),
    ("orange", (230, 120, 20), (120, 40, 10)),
    ("yellow", (225, 200, 40), (140, 90, 20)),
    ("purple", (130, 40, 170), (240, 150, 220)),
)
_BACKGROUND_PALETTES = (
    ((60, 110, 70), (140, 170, 120)),   # green
    ((50, 80, 130), (140, 160, 190)),   # blue
    ((90, 95, 100), (160, 160, 150)),   # grey
)


@dataclass(frozen=True)
class SyntheticSpec:
    motion: str
    seed: int = 0
    num_frames: int = 24
    height: int = 128
    width: int = 160
    fps: float = 8.0
    speed: float = 1.0
    #: tracked points, half on the subject and half on the background (first frame)
    num_points: int = 64
    #: slow camera pan (pixels per frame at 128 px, scaled with size) added to any motion.
    #: Real footage never holds exactly still; with a drift every track moves, so Motion
    #: Fidelity's "a zero step contributes cosine 0" rule does not dominate the score.
    camera_drift: float = 0.0

    def __post_init__(self) -> None:
        # canonical types, so that speed=1 and speed=1.0 share one render and one fingerprint
        for name, cast in (("seed", int), ("num_frames", int), ("height", int), ("width", int),
                           ("num_points", int), ("fps", float), ("speed", float),
                           ("camera_drift", float)):
            object.__setattr__(self, name, cast(getattr(self, name)))
        if self.motion not in MOTIONS:
            raise InvalidInputError(
                f"synthetic: unknown motion {self.motion!r} (known: {', '.join(MOTIONS)})")
        if self.num_frames < 1 or self.height < 32 or self.width < 32 or self.num_points < 2:
            raise InvalidInputError(
                f"synthetic {self.motion}: need num_frames >= 1, height/width >= 32, num_points >= 2 "
                f"(got {self.num_frames}, {self.height}x{self.width}, {self.num_points})")
        if self.motion == "static" and self.camera_drift:
            raise InvalidInputError("synthetic static: a static clip cannot have a camera drift")
        if self.fps <= 0 or self.speed < 0:
            raise InvalidInputError(f"synthetic {self.motion}: fps must be > 0 and speed >= 0")

    @property
    def name(self) -> str:
        return f"{self.motion}-s{self.seed}"


@dataclass(frozen=True, eq=False)
class SyntheticClip:
    video: Video
    masks: np.ndarray    # (T, H, W) bool
    tracks: np.ndarray   # (T, N, 2) float32, (x, y) pixels
    visible: np.ndarray  # (T, N) bool
    spec: SyntheticSpec
    #: which tracks lie on the subject (the first N//2) rather than the background
    on_subject: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))
    #: subject centre (x, y) per frame (T, 2): the image of the shape's centroid
    centres: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    shape: str = ""
    colour: str = ""

    @property
    def description(self) -> str:
        return f"a {self.colour} textured {self.shape.replace('-', ' ')}"


# -- procedural textures ----------------------------------------------------------------------

def _texture(rng: np.random.Generator, h: int, w: int, base, accent, cell: float) -> np.ndarray:
    """Checker + smooth noise + colour gradient, lightly blurred (corners for trackers,
    yet smooth enough that bilinear sampling is accurate)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    u = xs * np.cos(theta) + ys * np.sin(theta)
    v = -xs * np.sin(theta) + ys * np.cos(theta)
    checker = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    low = rng.uniform(-1, 1, size=(max(2, h // 12), max(2, w // 12), 3)).astype(np.float32)
    noise = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    direction = rng.uniform(0, 2 * np.pi)
    grad = (xs * np.cos(direction) + ys * np.sin(direction)) / max(h, w)
    base = np.asarray(base, np.float32)
    accent = np.asarray(accent, np.float32)
    img = base + (accent - base) * (0.6 * checker[..., None] + 0.4 * grad[..., None])
    img = img + 30.0 * noise
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    return np.clip(img, 0, 255)


# -- shapes: approximately signed distance (pixels), negative inside ----------------------------

def _shape_fn(kind: str, rng: np.random.Generator, radius: float):
    if kind == "disc":
        return lambda u, v: np.hypot(u, v) - radius
    if kind == "rounded-rectangle":
        a, b = radius * rng.uniform(0.85, 1.0), radius * rng.uniform(0.6, 0.8)
        rc = 0.35 * min(a, b)

        def rounded(u, v):
            qx, qy = np.abs(u) - a + rc, np.abs(v) - b + rc
            outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
            return outside + np.minimum(np.maximum(qx, qy), 0) - rc
        return rounded
    amps = rng.uniform(0.04, 0.09, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)

    def blob(u, v):
        ang = np.arctan2(v, u)
        r = radius * (1 + sum(a * np.cos((k + 2) * ang + p) for k, (a, p) in enumerate(zip(amps, phases))))
        return np.hypot(u, v) - r
    return blob


# -- rendering ----------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def render(spec: SyntheticSpec) -> SyntheticClip:
    """Render ``spec`` deterministically (memoised; returned arrays are read-only)."""
    rng = np.random.default_rng([spec.seed, MOTIONS.index(spec.motion)])
    H, W, T = spec.height, spec.width, spec.num_frames
    radius = 0.17 * min(H, W)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour, s_base, s_accent = _SUBJECT_PALETTES[int(rng.integers(len(_SUBJECT_PALETTES)))]
    b_base, b_accent = _BACKGROUND_PALETTES[int(rng.integers(len(_BACKGROUND_PALETTES)))]
    inside = _shape_fn(shape, rng, radius)

    # subject canvas: large enough for the biggest scale; centre at c_s
    S = int(np.ceil(2 * radius * 1.3)) + 8
    c_s = np.array([(S - 1) / 2, (S - 1) / 2])
    subj_tex = _texture(rng, S, S, s_base, s_accent, cell=max(4.0, radius / 3))
    cx, cy, angle, scale, cam = trajectory(spec, radius, rng)

    # background canvas: the frame plus a margin and the whole camera travel
    margin = 8
    bh, bw = H + 2 * margin, W + 2 * margin + int(np.ceil(cam.max()))
    bg_tex = _texture(rng, bh, bw, b_base, b_accent, cell=max(5.0, min(H, W) / 10))

    # tracked points: half inside the subject (>= 3 px from its edge), half on visible background
    n_subj = spec.num_points // 2
    n_bg = spec.num_points - n_subj
    subj_pts = _sample(rng, n_subj, lambda p: inside(p[:, 0] - c_s[0], p[:, 1] - c_s[1]) < -3.0,
                       (0, 0, S - 1, S - 1))
    M0_bg = np.array([[1, 0, -margin - cam[0]], [0, 1, -margin]], np.float64)
    M0_s = affine(c_s, (cx[0], cy[0]), angle[0], scale[0])
    inv0 = invert_affine(M0_s)

    def bg_ok(p):  # p in frame-0 coordinates: away from the subject's edge and the border
        q = apply_affine(inv0, p)
        return (inside(q[:, 0] - c_s[0], q[:, 1] - c_s[1]) / scale[0] > 3.0)
    bg_frame0 = _sample(rng, n_bg, bg_ok, (2, 2, W - 3, H - 3))
    bg_pts = apply_affine(invert_affine(M0_bg), bg_frame0)

    centroid = _shape_centroid(inside, c_s, S)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    pix = np.stack([xs.ravel(), ys.ravel()], 1)
    frames = np.empty((T, H, W, 3), np.uint8)
    masks = np.empty((T, H, W), bool)
    tracks = np.empty((T, spec.num_points, 2), np.float32)
    visible = np.empty((T, spec.num_points), bool)
    centres = np.empty((T, 2), np.float64)
    for t in range(T):
        M_bg = np.array([[1, 0, -margin - cam[t]], [0, 1, -margin]], np.float64)
        # the subject stands still in the world, so a camera pan moves it too
        M_s = affine(c_s, (cx[t] - (cam[t] - cam[0]), cy[t]), angle[t], scale[t])
        inv = invert_affine(M_s)
        q = apply_affine(inv, pix)
        mask = (inside(q[:, 0] - c_s[0], q[:, 1] - c_s[1]) <= 0).reshape(H, W)
        bg = cv2.warpAffine(bg_tex, M_bg, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        fg = cv2.warpAffine(subj_tex, M_s, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames[t] = np.clip(np.rint(np.where(mask[..., None], fg, bg)), 0, 255).astype(np.uint8)
        masks[t] = mask

        p_s, p_b = apply_affine(M_s, subj_pts), apply_affine(M_bg, bg_pts)
        tracks[t, :n_subj], tracks[t, n_subj:] = p_s, p_b
        qb = apply_affine(inv, p_b)
        occluded = inside(qb[:, 0] - c_s[0], qb[:, 1] - c_s[1]) <= 0
        visible[t, :n_subj] = _in_frame(p_s, W, H)
        visible[t, n_subj:] = _in_frame(p_b, W, H) & ~occluded
        centres[t] = apply_affine(M_s, centroid[None])[0]

    on_subject = np.arange(spec.num_points) < n_subj
    for arr in (frames, masks, tracks, visible, centres, on_subject):
        arr.setflags(write=False)  # the clip is cached: nobody may edit it in place
    video = Video(frames, spec.fps, f"synthetic:{spec.name}")
    return SyntheticClip(video, masks, tracks, visible, spec, on_subject, centres, shape, colour)


def _in_frame(p: np.ndarray, W: int, H: int) -> np.ndarray:
    return (p[:, 0] >= 0) & (p[:, 0] <= W - 1) & (p[:, 1] >= 0) & (p[:, 1] <= H - 1)


def _sample(rng: np.random.Generator, n: int, accept, box) -> np.ndarray:
    """``n`` uniform points in ``box`` = (x0, y0, x1, y1) satisfying ``accept`` (rejection)."""
    x0, y0, x1, y1 = box
    out = np.zeros((0, 2))
    for _ in range(200):
        cand = np.stack([rng.uniform(x0, x1, 4 * n + 16), rng.uniform(y0, y1, 4 * n + 16)], 1)
        out = np.concatenate([out, cand[accept(cand)]])
        if len(out) >= n:
            return out[:n]
    raise InvalidInputError(f"synthetic: cannot place {n} tracked points (frame too small?)")


def _shape_centroid(inside, c_s: np.ndarray, S: int) -> np.ndarray:
    """Centroid of the shape in canvas coordinates (4x supersampled: exact to ~0.01 px)."""
    n = 4 * S
    g = (np.arange(n) + 0.5) / n * S - 0.5
    u, v = np.meshgrid(g - c_s[0], g - c_s[1])
    m = inside(u, v) <= 0
    return np.array([u[m].mean(), v[m].mean()]) + c_s


# -- VideoSource / masks wrappers ------------------------------------------------------------------

@dataclass(frozen=True)
class SyntheticSource:
    """A synthetic clip as a case's ``source`` (VideoSource protocol)."""
    spec: SyntheticSpec

    def load(self) -> Video:
        return render(self.spec).video

    def masks(self) -> np.ndarray:
        return render(self.spec).masks

    def clip(self) -> SyntheticClip:
        return render(self.spec)

    def fingerprint(self) -> str:
        return stable_hash("synthetic-video", RENDERER_VERSION, self.spec)


@dataclass(frozen=True)
class SyntheticMasks:
    """The subject masks of a synthetic clip as a case's ``source_mask``."""
    spec: SyntheticSpec

    def load(self) -> np.ndarray:
        return render(self.spec).masks

    def fingerprint(self) -> str:
        return stable_hash("synthetic-masks", RENDERER_VERSION, self.spec)


def describe(spec: SyntheticSpec) -> tuple[str, str]:
    """(shape, colour name) of a spec's subject, without rendering (same draws as ``render``)."""
    rng = np.random.default_rng([spec.seed, MOTIONS.index(spec.motion)])
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = _SUBJECT_PALETTES[int(rng.integers(len(_SUBJECT_PALETTES)))][0]
    return shape, colour
