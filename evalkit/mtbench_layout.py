"""MTBench's naming of generated videos (Shi-qingyu/DeT ``evaluation.py`` @ 2a2f4dd): a prompt's
outputs live in ``<gen_root>/<output_dir_name(prompt)>/*.mp4``, and its CLIP score reads the
prompt back from that folder name. Shared by the ``mtbench`` dataset, the ``videos`` generator,
``evalkit data export`` and ``clip-text[protocol=mtbench]``.
"""
from __future__ import annotations

from typing import Any


def output_dir_name(prompt: str) -> str:
    """The folder ``motion_fidelity`` reads a prompt's generated videos from: trailing spaces
    dropped, spaces made underscores, one final '.' dropped (a leading space stays, as an
    underscore)."""
    name = prompt.rstrip(" ").replace(" ", "_")
    return name[:-1] if name.endswith(".") else name


def prompt_from_dir_name(name: str) -> str:
    """The text ``CLIP_Score`` scores a folder's videos against: underscores made spaces and a
    '.' appended (so a prompt's own underscores, or a missing final '.', are not recovered)."""
    return name.replace("_", " ") + "."


def case_output_dir(case: Any) -> str:
    """A motion-transfer case's output folder: the ``mtbench`` dataset records the one its raw
    prompt line gives (``meta["output_dir"]``); any other case, that of its target prompt."""
    return case.meta.get("output_dir") or output_dir_name(case.target_prompt)
