"""Point labels that do not collide: each label takes the first of a ring of candidate offsets
(nearest first) where it overlaps no other label, no point and stays inside the axes (where no
spot inside is free, a free one beside the axes; where none is free at all, the least crowded
one inside); a label moved away from its point gets a thin leader line. Deterministic: the same points give the same
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
    markers = len(taken)   # the first boxes are points; a label over a label is worse than over a point
    placed = []
    for (x, y), label in zip(zip(xs, ys), labels):
        # the first free spot inside the axes; else the first free spot at all (beside the axes,
        # inside the saved figure); else the least crowded spot inside the axes
        inside = outside = least = None
        for radius in _RADII:
            for dx, dy in _DIRECTIONS:
                offset = (dx * radius, dy * radius)
                ann = _annotate(ax, label, (x, y), offset, fontsize, leader=radius > _RADII[1])
                box = ann.get_window_extent(renderer).expanded(1.04, 1.15)
                ann.remove()
                fits = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
                overlaps = sum((1 if k < markers else 10) * box.overlaps(t) for k, t in enumerate(taken))
                if overlaps == 0 and fits:
                    inside = (offset, radius)
                    break
                if overlaps == 0 and outside is None:
                    outside = (offset, radius)
                if fits and (least is None or overlaps < least[0]):
                    least = (overlaps, (offset, radius))
            if inside:
                break
        offset, radius = inside or outside or (least[1] if least else ((_RADII[-1], 0), _RADII[-1]))
        ann = _annotate(ax, label, (x, y), offset, fontsize, leader=radius > _RADII[1])
        best = (ann, ann.get_window_extent(renderer).expanded(1.04, 1.15))
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
