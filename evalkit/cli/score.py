"""``evalkit score``: score one generated video (against a source) with one registered metric.

Builds a MotionTransferCase from the inputs and calls the registered metric, so direct
scoring and benchmark runs share one code path.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import app, fail


def _digest(path: Path) -> str:
    from ..hashing import file_digest
    return file_digest(path)


@app.command("score")
def score(
    metric: str = typer.Argument(..., help="registered metric, e.g. motion-fidelity, dynamic-degree"),
    generated: Path = typer.Option(..., "--generated", "-g", help="generated video: mp4 or frame folder"),
    source: Optional[Path] = typer.Option(None, "--source", "-s", help="source video (motion metrics)"),
    backend: Optional[str] = typer.Option(None, help="feature backend (default: the metric's first)"),
    variant: Optional[str] = typer.Option(None, help="metric variant, where it has one"),
    mask: Optional[Path] = typer.Option(None, help="source subject mask (first frame used)"),
    option: list[str] = typer.Option([], "--option", "-o", help="extra metric option KEY=VALUE (JSON value)"),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N"),
    dtype: str = typer.Option("float32", help="float32 | float16 | bfloat16"),
    fps: Optional[float] = typer.Option(None, help="frame rate of frame folders (default 24)"),
    as_json: bool = typer.Option(False, "--json", help="print value and full provenance as JSON"),
) -> None:
    """Score GENERATED (against SOURCE) with METRIC and print the value."""
    from .. import __version__
    from ..cases import FileMasks, Generation, InlineVideo, MotionTransferCase
    from ..errors import EvalkitError
    from ..features.base import FeatureContext
    from ..registry import METRICS
    from ..registry import UnknownNameError
    from ..video import read_video

    try:
        cls = METRICS.get(metric)
    except UnknownNameError as exc:
        raise fail(str(exc))
    options = {}
    for item in option:
        key, sep, raw = item.partition("=")
        if not sep:
            raise fail(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    if variant is not None:
        options["variant"] = variant
    if mask is not None:
        options.setdefault("use_mask", True)
    try:
        m = cls(backend=backend, device=device, **options)
        gen = read_video(generated, fps=fps)
        notes: list[str] = []
        needs_source = m.spec.name != "dynamic-degree"
        if needs_source and source is None:
            raise fail(f"{metric} compares against a source video: pass --source")
        if not needs_source and source is not None:
            raise fail(f"{metric} scores the generated video alone: drop --source")
        src = read_video(source, fps=fps) if source is not None else gen
        gen_read = gen
        if needs_source and gen.size != src.size:
            # the reference scripts score both videos at one resolution: the source's
            notes.append(f"generated video resized from {gen.height}x{gen.width} to the source's "
                         f"{src.height}x{src.width}")
            gen = gen.resize(*src.size)
        case = MotionTransferCase(case_id=(source or generated).name, source=InlineVideo(src),
                                  target_prompt="", source_mask=FileMasks(mask) if mask else None)
        ctx = FeatureContext(device=device, dtype=dtype)
        result = m(case, Generation((gen,)), ctx)
    except EvalkitError as exc:
        raise fail(str(exc))
    notes += list(result.details.get("notes", []))
    if not as_json:
        for n in notes:
            typer.echo(f"note: {n}", err=True)
        typer.echo(f"{m.column}: {result.value:.6g}")
        return
    weights = None
    if m.backend:
        weights = ctx.backend(m.backend).weights_id or "weight-free"
    inputs = {"generated": {"path": str(generated), "digest": _digest(generated), "frames": gen_read.num_frames,
                            "size": list(gen_read.size), "fps": gen_read.fps}}
    if needs_source:
        inputs["source"] = {"path": str(source), "digest": _digest(source), "frames": src.num_frames,
                            "size": list(src.size), "fps": src.fps}
    if mask:
        inputs["mask"] = {"path": str(mask), "digest": _digest(mask)}
    typer.echo(json.dumps({
        "metric": m.spec.name, "column": m.column, "value": result.value,
        "boolean": m.spec.boolean, "higher_is_better": m.spec.higher_is_better,
        "evalkit_version": __version__, "config": m.config, "backend": m.backend,
        "weights": weights, "device": device, "dtype": dtype, "inputs": inputs,
        "notes": notes, "details": result.details, "reference": m.spec.reference,
    }, indent=2, default=str))
