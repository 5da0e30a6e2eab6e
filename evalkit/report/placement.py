"""Point labels that do not collide: each label takes the first of a ring of candidate offsets
(nearest first) where it overlaps no other label, no point and stays inside the axes; a label
moved away from its point gets a thin leader line. Deterministic: the same points give the same
figure."""
from __future__ import annotations

from typing import Sequence

#: directions tried at each radius (right, upper-right, above, ...), in points
_DIRECTIONS = ((1, 0.3), (1, -1), (-1, 0.3), (-1, -1), (0, 1), (0, -1.6), (1, 1), (-1, 1))
_RADII = (5, 12, 20, 30, 42, 56, 72)


def place_labels(ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *, fontsize: float = 8,
                 marker_px: float = 5.0) -> list:
    """Annotate each (x, y) with its label without overlaps; returns the annotations."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    points = [ax.transData.transform((x, y)) for x, y in zip(xs, ys)]
    from matplotlib.transforms import Bbox

    taken = [Bbox.from_bounds(px - marker_px, py - marker_px, 2 * marker_px, 2 * marker_px) for px, py in points]
    placed = []
    for (x, y), label in zip(zip(xs, ys), labels):
        best = None
        for radius in _RADII:
            for dx, dy in _DIRECTIONS:
                ann = _annotate(ax, label, (x, y), (dx * radius, dy * radius), fontsize, leader=radius > _RADII[1])
                box = ann.get_window_extent(renderer).expanded(1.04, 1.15)
                fits = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
                if fits and not any(box.overlaps(t) for t in taken):
                    best = (ann, box)
                    break
                ann.remove()
            if best:
                break
        if best is None:   # nowhere free inside the axes: the outermost spot to the right
            ann = _annotate(ax, label, (x, y), (_RADII[-1], 0), fontsize, leader=True)
            best = (ann, ann.get_window_extent(renderer))
        taken.append(best[1])
        placed.append(best[0])
    return placed


def _annotate(ax, label: str, xy, offset, fontsize: float, leader: bool):
    dx, dy = offset
    return ax.annotate(label, xy, xytext=offset, textcoords="offset points", fontsize=fontsize,
                       ha="left" if dx > 0 else "right" if dx < 0 else "center",
                       va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                       arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.55", "shrinkA": 0, "shrinkB": 3}
                       if leader else None)
