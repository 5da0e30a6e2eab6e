"""The static leaderboard site: comparable rows ranked, incomparable apart with the reason,
grouped columns, submission metadata, per-run report links; renders offline in Chromium
with no console errors and sorts by the numbers."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from evalkit.report.site import build_site, benchmark_of
from evalkit.report.sources import load_run
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan

SUITE = ComponentSpec("synthetic", {"motions": ["translation", "pan", "rotation"], "num_frames": 8})
METRICS = (ComponentSpec("motion-fidelity", {"backend": "klt"}), ComponentSpec("temporal-flicker"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    a = Plan(SUITE, (ComponentSpec("copy"), ComponentSpec("reverse"), ComponentSpec("static")), METRICS)
    run_plan(a, tmp / "runs")
    # the same suite with a different metric definition: listed apart, never ranked with the rest
    b = Plan(SUITE, (ComponentSpec("shuffle"),), (ComponentSpec("motion-fidelity", {"backend": "klt", "grid_size": 20}),
                                                     ComponentSpec("temporal-flicker")))
    run_plan(b, tmp / "runs")
    runs = [load_run(f"{tmp / 'runs'}:{p.run_id}") for p in (a, b)]
    index = build_site(runs, tmp / "site")
    return index.parent, runs


def test_pages_rank_only_comparable_entries(site):
    folder, runs = site
    assert benchmark_of(runs[0]) == benchmark_of(runs[1])
    page = (folder / f"{re.sub(r'[^a-z0-9]+', '-', benchmark_of(runs[0]).lower()).strip('-')}.html").read_text()
    ranked = page.split("<tbody>")[1].split("</tbody>")[0]
    assert [g for g in re.findall(r'<td data-sort="([a-z]+)">\1</td>', ranked)] == ["copy", "static", "reverse"]
    apart = page.split("Not ranked")[1]
    assert "shuffle" in apart and "motion-fidelity[klt,grid_size=20] not measured" in apart
    assert '<th class="group" colspan="1">motion</th>' in page and ">temporal consistency</th>" in page
    assert f'href="reports/{runs[0].run_id}.html"' in page and (folder / "reports" / f"{runs[0].run_id}.html").is_file()
    assert not re.search(r'(src|href)="(https?:)?//', page)      # offline: nothing fetched from a network


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_renders_in_chromium_without_console_errors_and_sorts(site, tmp_path):
    folder, runs = site
    page = next(p for p in folder.glob("*.html") if p.name != "index.html")
    probe = folder / "probe.html"
    # click the motion-fidelity header once (ascending) and log the order
    probe.write_text(page.read_text().replace("</body>", """<script>
      var th = document.querySelectorAll('thead tr.cols th')[2]; th.click();
      var names = Array.prototype.map.call(document.querySelectorAll('table.sortable tbody tr'), function (r) {
        return r.cells[1].textContent; });
      console.log('ORDER ' + names.join(','));
    </script></body>"""))
    out = {}
    for name in ("index.html", page.name, probe.name):
        proc = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                               "--v=0", f"--user-data-dir={tmp_path / name}", "--dump-dom", (folder / name).as_uri()],
                              capture_output=True, text=True, timeout=120)
        out[name] = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
        assert "</table>" in proc.stdout or name == "index.html"
    assert out["index.html"] == [] and out[page.name] == []
    (line,) = out[probe.name]
    assert '"ORDER reverse,static,copy"' in line      # ascending motion fidelity: −44, 4, 100
