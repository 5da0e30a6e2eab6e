"""The HTML report is one self-contained file: tables, decodable inline images, galleries."""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from evalkit.report.html_report import build_html_report
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture
def report_run(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    cases = ["c0", "c1", "c2"]
    vals = {(g, col): {c: v + 0.05 * i for i, c in enumerate(cases)}
            for g, base in (("copy", 0.8), ("static", 0.1), ("reverse", -0.5))
            for col, v in (("fake-fidelity[fake-klt]", base), ("fake-leak", abs(base) / 2))}
    fill(store, "r", vals, artifacts=True, categories={"c0": "same-subject", "c1": "different-subject",
                                                             "c2": "different-subject"},
               timings=lambda g, c, s: (0.5, 0.0, 2.0) if g == "copy" else (0.0, 0.0, 1.0))
    store.close()
    return tmp_path / "out"


def test_html_structure(report_run):
    doc = build_html_report(load_run(report_run), runtime_base="static", max_cases=2)
    p = _Collect()
    p.feed(doc)
    tags = [t for t, _ in p.tags]
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert tags.count("table") >= 4          # provenance, results, by category, leaderboard, runtime
    imgs = [a["src"] for t, a in p.tags if t == "img"]
    assert all(src.startswith("data:image/") for src in imgs)          # self-contained
    assert not re.search(r'(src|href)="https?://', doc)
    pngs = [base64.b64decode(s.split(",", 1)[1]) for s in imgs if s.startswith("data:image/png")]
    assert len(pngs) >= 2 + 2                                         # pareto + runtime + 2 contact sheets
    assert all(b.startswith(b"\x89PNG") for b in pngs)
    assert sum(s.startswith(("data:image/webp", "data:image/gif")) for s in imgs) == 2 * 3   # 2 cases × 3 gens
    assert '<td class="best">0.850 ± 0.029</td>' in doc   # copy fidelity: .80, .85, .90 -> sem .05/√3
    assert "By case category" in doc and "Leaderboard" in doc and "y–t slices" in doc
    # runtime table: copy's stages 0.5 + 0 + 2.0 s; overhead = 2.5 s / static's 1.0 s inference
    assert ("<tr><th>copy</th><td>0.50</td><td>0.00</td><td>2.00</td><td>2.50</td><td>×2.5</td></tr>"
            in doc)
    assert "<tr><th>static</th><td>0.00</td><td>0.00</td><td>1.00</td><td>1.00</td><td>×1.0</td></tr>" in doc


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_screenshot(report_run, tmp_path):
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(build_html_report(load_run(report_run), max_cases=1))
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,3000", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB"))
    # the page rendered content: a good share of non-white pixels, and the plots' coloured pixels
    assert (img.min(axis=2) < 200).mean() > 0.02
    blue = (img[..., 2] > 150) & (img[..., 0] < 80)                     # matplotlib's tab:blue markers/bars
    assert blue.sum() > 50
