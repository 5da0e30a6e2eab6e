"""Where one thread's wall time goes: the main thread's stack, sampled while a module runs.

``evalkit run --device D`` measures on its main thread (the device thread), so the GPU idles
exactly when that thread is somewhere other than launching kernels. cProfile cannot say where:
it counts time in Python calls rather than wall time spent waiting in C (a CUDA sync, a lock),
and from Python 3.12 on it records every thread of the process. This samples the main
thread's Python stack every ``--interval-ms`` from a daemon thread, so a blocking C call is
charged to the Python line that made it, and other threads are not seen.

    python benchmarks/stack_sampler.py --out prof.json -m evalkit.cli run plan.yaml --device cuda:0 ...

``prof.json``: samples, seconds sampled, the functions' shares of that wall time as the
innermost frame (``self``) and anywhere on the stack (``total``), and the collapsed stacks
(``a;b;c microseconds`` lines: input for flamegraph.pl or speedscope).
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import threading
import time
from collections import Counter
from pathlib import Path


def frame_name(code) -> str:
    """``file:first line(function)``, the file relative to the working folder when inside it."""
    path = code.co_filename
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:   # another drive
        pass
    return f"{path}:{code.co_firstlineno}({code.co_name})"


class StackSampler:
    """The stacks of thread ``ident`` (outermost first), looked at every ``interval`` seconds and
    weighted by the seconds since the previous look: while other threads hold the GIL the
    sampler looks less often, and a count of looks would favour the moments the thread waits."""

    def __init__(self, ident: int, interval: float) -> None:
        self.ident, self.interval = ident, interval
        self.stacks: Counter[tuple[str, ...]] = Counter()   # stack -> seconds
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-sampler", daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self.ident)
            now = time.perf_counter()
            stack = []
            while frame is not None:
                stack.append(frame_name(frame.f_code))
                frame = frame.f_back
            if stack:
                self.stacks[tuple(reversed(stack))] += now - last
                self.samples += 1
            last = now

    def __enter__(self) -> "StackSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, top: int = 60) -> dict:
        seconds = sum(self.stacks.values())
        own, anywhere = Counter(), Counter()
        for stack, t in self.stacks.items():
            own[stack[-1]] += t
            for name in set(stack):
                anywhere[name] += t
        share = (lambda c: {k: v / seconds for k, v in c.most_common(top)}) if seconds else (lambda c: {})
        return {"samples": self.samples, "seconds": seconds, "interval_s": self.interval,
                "self": share(own), "total": share(anywhere),   # shares of the sampled wall time
                "collapsed": [f"{';'.join(s)} {round(t * 1e6)}" for s, t in self.stacks.most_common()]}  # µs


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-m" not in argv:
        raise SystemExit("usage: stack_sampler.py [--out F] [--interval-ms N] -m module [args ...]")
    split = argv.index("-m")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    args = ap.parse_args(argv[:split])
    module, rest = argv[split + 1], argv[split + 2:]
    sys.argv = [module] + rest
    code = 0
    with StackSampler(threading.get_ident(), args.interval_ms / 1000) as sampler:
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(sampler.report(), indent=1))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
