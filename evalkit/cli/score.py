"""``evalkit score``: score generated video(s) with one registered metric.

The metric's spec says which inputs it reads (``MetricSpec.inputs``); the command requires
exactly those flags, builds the one case they describe and calls the registered metric, so
direct scoring and benchmark runs share one code path. Several ``--generated`` make a
multi-shot set (one video per shot, in order).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import typer

from .app import app, fail

#: the flag that provides each metric input (keys of evalkit.metrics.base.INPUTS)
FLAGS = {"generated": "--generated", "shots": "--generated (once per shot, at least twice)",
         "source": "--source", "source-mask": "--mask", "prompt": "--prompt", "subject": "--subject",
         "reference-images": "--reference"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DTYPES = ("float32", "float16", "bfloat16")


def _digest(path: Path) -> str:
    from ..hashing import file_digest
    return file_digest(path)


def _parse_options(items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise fail(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def check_inputs(metric: str, needed: tuple[str, ...], given: set[str], case_kinds: tuple[str, ...]) -> None:
    """Exactly the inputs the metric reads: each missing one and each unused one is an error."""
    if "timings" in needed:
        raise fail(f"{metric} reads a generation's stage timings, which only `evalkit run` records")
    for name in needed:
        if name not in given:
            raise fail(f"{metric} needs {FLAGS[name]} ({name})")
    if "shots" in given and "shots" not in needed and "multi-shot" not in case_kinds:
        raise fail(f"{metric} scores one generated video: pass --generated once")
    for name in sorted(given - set(needed) - {"generated", "shots"}):
        raise fail(f"{metric} does not read {FLAGS[name]} with these options: drop {FLAGS[name]}")


def _reference_files(paths: list[Path]) -> tuple[Path, ...]:
    files: list[Path] = []
    for p in paths:
        files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if p.is_dir() else [p]
    return tuple(files)


def build_case(case_kinds: tuple[str, ...], needed: tuple[str, ...], case_id: str, videos: list,
               source, mask: Optional[Path], prompts: list[str], subject: str, references: tuple[Path, ...]):
    """The one case the given inputs describe (multi-shot for several videos, personalization
    for reference images, motion transfer otherwise)."""
    from ..cases import FileMasks, ImageFiles, InlineVideo, MotionTransferCase, MultiShotCase, PersonalizationCase

    if len(videos) > 1 or "shots" in needed:
        return MultiShotCase(case_id, subject, tuple(prompts) or ("",) * len(videos))
    if len(prompts) > 1:
        raise fail(f"{len(prompts)} --prompt for one generated video")
    prompt = prompts[0] if prompts else ""
    if "reference-images" in needed or "motion-transfer" not in case_kinds:
        return PersonalizationCase(case_id, subject, "", prompt, ImageFiles(references))
    # no source: a metric that reads none scores the case without one
    inline: Any = InlineVideo(source) if source is not None else None
    return MotionTransferCase(case_id, inline, prompt,
                              subject=subject, source_mask=FileMasks(mask) if mask else None)


@app.command("score")
def score(
    metric: str = typer.Argument(..., help="registered metric, e.g. motion-fidelity, dynamic-degree"),
    generated: list[Path] = typer.Option(..., "--generated", "-g",
                                         help="generated video: mp4 or frame folder; repeat for the shots of a set"),
    source: Optional[Path] = typer.Option(None, "--source", "-s", help="source video (motion, identity leakage)"),
    mask: Optional[Path] = typer.Option(None, help="source subject mask (first frame used)"),
    prompt: list[str] = typer.Option([], "--prompt", "-p", help="text prompt; one per shot for a set"),
    subject: str = typer.Option("", "--subject", help="subject text, e.g. 'a girl' (set consistency)"),
    reference: list[Path] = typer.Option([], "--reference", "-r", help="reference image(s) or a folder of them"),
    backend: Optional[str] = typer.Option(None, help="feature backend (default: the metric's first)"),
    variant: Optional[str] = typer.Option(None, help="metric variant, where it has one"),
    option: list[str] = typer.Option([], "--option", "-o", help="extra metric option KEY=VALUE (JSON value)"),
    device: str = typer.Option("auto", help="auto (a CUDA GPU when there is one) | cpu | cuda | cuda:N"),
    dtype: str = typer.Option("float32", help="float32 | float16 | bfloat16"),
    fps: Optional[float] = typer.Option(None, help="frame rate of generated frame folders (default 24)"),
    source_fps: Optional[float] = typer.Option(None, help="frame rate of a source frame folder (default: --fps)"),
    as_json: bool = typer.Option(False, "--json", help="print value and full provenance as JSON"),
) -> None:
    """Score GENERATED with METRIC and print the value; the metric says which other inputs it needs."""
    from .. import __version__
    from ..cases import Generation
    from ..errors import EvalkitError
    from ..features.base import FeatureContext
    from ..registry import METRICS, UnknownNameError
    from ..run.device import resolve_device
    from ..video import read_video

    try:
        cls = METRICS.get(metric)
    except UnknownNameError as exc:
        raise fail(str(exc))
    options = _parse_options(option)
    if variant is not None:
        options["variant"] = variant
    if dtype not in DTYPES:
        raise fail(f"--dtype {dtype!r}: expected {' | '.join(DTYPES)}")
    for flag, rate in (("--fps", fps), ("--source-fps", source_fps)):
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise fail(f"{flag} {rate:g}: a frame rate must be a positive number of frames per second")
    given = {"generated"} | {name for name, value in (
        ("shots", len(generated) > 1), ("source", source), ("source-mask", mask), ("prompt", prompt),
        ("subject", subject), ("reference-images", reference)) if value}
    try:
        device = resolve_device(device)
        m = cls(backend=backend, device=device, **options)
        check_inputs(metric, m.inputs, given, m.spec.case_kinds)
        videos = [read_video(g, fps=fps) for g in generated]
        src = read_video(source, fps=source_fps or fps) if source is not None else None
        references = _reference_files(reference)
        case = build_case(m.spec.case_kinds, m.inputs, (source or generated[0]).name, videos, src, mask,
                          prompt, subject, references)
        ctx = FeatureContext(device=device, dtype=dtype)
        result = m(case, Generation(tuple(videos)), ctx)
    except EvalkitError as exc:
        raise fail(str(exc))
    notes = list(result.details.get("notes", []))
    if not as_json:
        for n in notes:
            typer.echo(f"note: {n}", err=True)
        typer.echo(f"{m.column}: {result.value:.6g}")
        return
    weights = None
    if m.backend:
        weights = ctx.backend(m.backend).weights_id or "weight-free"

    def video_input(path: Path, video) -> dict[str, Any]:
        return {"path": str(path), "digest": _digest(path), "frames": video.num_frames,
                "size": list(video.size), "fps": video.fps}

    shots = [video_input(g, v) for g, v in zip(generated, videos)]
    inputs: dict[str, Any] = {"generated": shots[0]} if len(shots) == 1 else {"shots": shots}
    if source is not None and src is not None:
        inputs["source"] = video_input(source, src)
    if mask:
        inputs["mask"] = {"path": str(mask), "digest": _digest(mask)}
    if references:
        inputs["reference_images"] = [{"path": str(p), "digest": _digest(p)} for p in references]
    if prompt:
        inputs["prompt"] = prompt[0] if len(prompt) == 1 else prompt
    if subject:
        inputs["subject"] = subject
    typer.echo(json.dumps({
        "metric": m.spec.name, "column": m.column, "value": result.value,
        "boolean": m.spec.boolean, "higher_is_better": m.spec.higher_is_better,
        "evalkit_version": __version__, "config": m.config, "backend": m.backend,
        "weights": weights, "device": device, "dtype": dtype, "inputs": inputs,
        "notes": notes, "details": result.details, "reference": m.spec.reference,
    }, indent=2, default=str))
