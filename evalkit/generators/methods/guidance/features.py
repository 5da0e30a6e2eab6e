"""Reading features out of one denoiser forward pass (with or without gradients).

- attention Q/K/V: the :class:`~evalkit.generators.attention.capture.Capture` behaviour on the
  controlled self-attention layers (see :mod:`.passes`);
- module outputs (DiT block outputs for SMM/MOFT, U-Net decoder convolutions for DMT):
  :class:`ModuleOutputs`, forward hooks that keep the output with its graph;
- :func:`truncated`: stop the forward once the last needed layer has run (DiTFlow's and DMT's
  code skip the later blocks during optimisation); the results are identical, the time is not;
- :func:`token_grid` / :func:`frames_of_tokens`: DiT video tokens (frames-major, as CogVideoX and
  Wan flatten them) back to [frames, channels, h, w].
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from evalkit.errors import EvalkitError


class StopForward(Exception):
    """Raised by :func:`truncated` to end a forward pass early (caught by :func:`run_truncated`)."""


class ModuleOutputs:
    """Forward hooks on named submodules of ``model``; ``seen[name]`` is the latest output
    (the first element when a module returns a tuple), graph attached."""

    def __init__(self, model, names) -> None:
        self.model, self.names, self.seen = model, list(names), {}
        self._hooks: list = []

    def __enter__(self) -> "ModuleOutputs":
        for name in self.names:
            try:
                module = self.model.get_submodule(name)
            except AttributeError:
                raise EvalkitError(f"feature module {name!r} not found in {type(self.model).__name__}") from None
            self._hooks.append(module.register_forward_hook(self._keeper(name)))
        return self

    def _keeper(self, name: str):
        def hook(module, args, output):
            self.seen[name] = output[0] if isinstance(output, tuple) else output
        return hook

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()


@contextlib.contextmanager
def truncated(model, stop_module: str | None) -> Iterator[None]:
    """Within the block, a forward of ``model`` raises :class:`StopForward` when it reaches
    ``stop_module`` (None: no truncation)."""
    if stop_module is None:
        yield
        return

    def stop(module, args):
        raise StopForward(stop_module)

    handle = model.get_submodule(stop_module).register_forward_pre_hook(stop)
    try:
        yield
    finally:
        handle.remove()


def run_truncated(fn) -> None:
    """Call ``fn()``; a :class:`StopForward` from :func:`truncated` is the expected early end."""
    try:
        fn()
    except StopForward:
        pass


def token_grid(tokens: int, latent_grid: tuple[int, int, int]) -> tuple[int, int, int]:
    """(frames, h, w) of the DiT token grid of a clip whose latent grid is ``(F, H, W)``: the
    spatial patch size p is the one for which F · (H/p) · (W/p) = tokens (no temporal patching)."""
    f, h, w = (int(x) for x in latent_grid)
    for p in range(1, min(h, w) + 1):
        if h % p == 0 and w % p == 0 and f * (h // p) * (w // p) == tokens:
            return f, h // p, w // p
    raise EvalkitError(f"{tokens} video tokens do not tile the latent grid {latent_grid} "
                       "(temporal patching is not supported)")


def frames_of_tokens(x, grid: tuple[int, int, int]):
    """[1, F·h·w, C] video tokens -> [F, C, h, w]."""
    f, h, w = grid
    if x.shape[0] != 1 or x.shape[1] != f * h * w:
        raise EvalkitError(f"block output of shape {tuple(x.shape)} is not one clip of {f}×{h}×{w} tokens")
    return x[0].view(f, h, w, -1).permute(0, 3, 1, 2)
