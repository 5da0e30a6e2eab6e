"""The static leaderboard site: comparable rows ranked, incomparable apart with the reason,
grouped columns, per-run report links; every row's status and completeness (a killed run's
entries marked and never ranked above complete ones); readable names; one line per benchmark
on the index; renders offline in Chromium with no console errors; sorts, filters and toggles
columns."""
from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.report.leaderboard import build_leaderboard
from evalkit.report.site import benchmark_of, build_site
from evalkit.report.sources import load_run
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan

_load_commands()
SUITE = ComponentSpec("synthetic", {"motions": ["translation", "pan", "rotation"], "num_frames": 8})
METRICS = (ComponentSpec("motion-fidelity", {"backend": "klt"}), ComponentSpec("temporal-flicker"))


def _ranked(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r'<td class="name" data-sort="([^"]+)">', body)


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
    page = (folder / f"{benchmark_of(runs[0]).slug}.html").read_text()
    assert _ranked(page) == ["copy", "static", "reverse"]
    apart = page.split("Not ranked")[1]
    assert "shuffle" in apart and "motion-fidelity[klt,grid_size=20] not measured" in apart
    assert '<th class="group" colspan="1" data-cols="c-m0">motion</th>' in page and ">temporal consistency</th>" in page
    assert f'href="reports/{runs[0].run_id}.html"' in page and (folder / "reports" / f"{runs[0].run_id}.html").is_file()
    assert not re.search(r'(src|href)="(https?:)?//', page)      # offline: nothing fetched from a network


def test_benchmarks_have_readable_names_and_one_index_line_each(site):
    """Defect: page titles and the index were raw JSON (`synthetic {"motions": …}`)."""
    folder, runs = site
    bench = benchmark_of(runs[0])
    assert bench.title == "Synthetic motion"
    assert [full for _, full in bench.chips()] == ["motions=translation, pan, rotation", "num_frames=8"]
    page = (folder / f"{bench.slug}.html").read_text()
    title = re.search(r"<title>(.*)</title>", page).group(1)
    assert title == "Synthetic motion (motions=translation, pan, rotation, num_frames=8) · evalkit leaderboard"
    index = (folder / "index.html").read_text()
    lines = re.findall(r"<li>.*?</li>", index)
    assert len(lines) == 1 and "{" not in index.split("<body>")[1].split("<script>")[0]
    assert '<span class="chip">num_frames=8</span>' in lines[0]
    assert "2 runs · 3 ranked, 1 not comparable · leader: copy, static · " in lines[0]
    # entries named as a reader knows them; run ids only in the details
    visible = re.sub(r"<details>.*?</details>|<[^>]+>", " ", page.split("<tbody>")[1].split("</tbody>")[0])
    assert runs[0].run_id not in visible and "/copy" not in visible


def test_one_chart_per_metric_group_and_the_trade_off(site):
    folder, runs = site
    page = (folder / f"{benchmark_of(runs[0]).slug}.html").read_text()
    charts = page.split("<h2>Metrics by group</h2>")[1].split("<h2>Trade-off</h2>")[0]
    assert re.findall(r"<figcaption>([^<:]+):", charts) == ["motion", "temporal consistency"]
    assert charts.count('src="data:image/png;base64,') == 2
    assert 'alt="trade-off scatter with Pareto front"' in page


def test_split_label():
    from evalkit.report.benchmarks import split_label

    label = "mbq[injection_fraction=0.6,layers=[1,2]]"
    assert split_label(label) == ("mbq", ["injection_fraction=0.6", "layers=[1,2]"])
    assert split_label("copy") == ("copy", [])


# -- a killed run ---------------------------------------------------------------------------------

SQUARES = ComponentSpec("test-squares", {"n": 3})


def _kill(store_dir, run_id: str, drop_generator: str | None = None) -> None:
    """What SIGKILL leaves: the run recorded 'running' by a process that is gone (no lock held),
    and the results it had not reached missing."""
    con = sqlite3.connect(store_dir / "evalkit.sqlite")
    with con:
        con.execute("UPDATE runs SET status='running' WHERE run_id=?", (run_id,))
        if drop_generator:
            con.execute("DELETE FROM results WHERE run_id=? AND generator=? AND case_id='sq2'",
                        (run_id, drop_generator))
    con.close()


@pytest.fixture
def killed(tmp_path):
    """A complete run (three generators) and a killed run of the same benchmark whose best
    generator has every item (comparable) and whose second generator stopped short."""
    def gens(*brighten):
        return tuple(ComponentSpec("test-copy", {"brighten": b}) for b in brighten)

    done = Plan(SQUARES, gens(0, 10, 20), (ComponentSpec("test-brightness"),))
    cut = Plan(SQUARES, gens(90, 30), (ComponentSpec("test-brightness"),))
    run_plan(done, tmp_path / "runs")
    run_plan(cut, tmp_path / "runs")
    _kill(tmp_path / "runs", cut.run_id, drop_generator="test-copy[brighten=30]")
    runs = [load_run(f"{tmp_path / 'runs'}:{p.run_id}") for p in (done, cut)]
    return tmp_path, runs


def test_a_killed_runs_entries_show_their_status_and_never_rank_above_complete_ones(killed):
    """Defect: a killed run (16 of 120 results) was ranked with no status."""
    tmp, (done, cut) = killed
    assert cut.status == "interrupted"
    lb = build_leaderboard([done, cut])
    assert list(lb.ranked["generator"]) == ["test-copy[brighten=20]", "test-copy[brighten=10]", "test-copy",
                                            "test-copy[brighten=90]"]   # the brightest (best) last: unfinished
    assert list(lb.ranked["rank"]) == [1, 2, 3, 4]
    assert list(lb.ranked["status"]) == ["complete"] * 3 + ["interrupted: 3 of 3 results ok"]
    (apart,) = lb.apart.itertuples(index=False)
    assert apart.generator == "test-copy[brighten=30]" and apart.status == "interrupted: 2 of 3 results ok"
    assert any("ranked after the complete ones" in n for n in lb.notes)

    index = build_site([done, cut], tmp / "site", reports=False)
    page = (tmp / "site" / f"{benchmark_of(cut).slug}.html").read_text()
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert 'class="unfinished"' in rows[3] and 'class="unfinished"' not in "".join(rows[:3])
    assert '<span class="badge b-interrupted">interrupted</span><br><small>3 of 3 results ok</small>' in rows[3]
    assert rows[0].count('<span class="badge b-complete">complete</span>') == 1
    assert "did not finish: 6 of 9 results ok" not in page and "did not finish: 5 of 6 results ok, 1 missing" in page
    assert "interrupted" in page.split("Not ranked")[1]
    assert '1 <span class="badge b-complete">complete</span>, 1 <span class="badge b-interrupted">' in index.read_text()

    # the Markdown leaderboard has the status column the docs promise
    res = CliRunner().invoke(app, ["report", "--leaderboard", f"{tmp / 'runs'}:{done.run_id}",
                                   f"{tmp / 'runs'}:{cut.run_id}"])
    assert res.exit_code == 0, res.output
    header, *rows = [line for line in res.stdout.splitlines() if line.startswith("| ")]
    assert header.rstrip(" |").endswith("status") and rows[3].endswith("| interrupted: 3 of 3 results ok |")


def test_leaderboard_cli_labels_duplicates_and_unknown_metrics(killed, tmp_path):
    tmp, (done, cut) = killed
    store = str(tmp / "runs")
    labels = tmp / "labels.yaml"
    labels.write_text(yaml.safe_dump({"generators": {"test-copy[brighten=20]": "Bright (ours)"}}))
    res = CliRunner().invoke(app, ["leaderboard", f"{store}:{done.run_id}", f"{store}:{cut.run_id}",
                                   "--out", str(tmp / "named"), "--labels", str(labels), "--no-reports"])
    assert res.exit_code == 0, res.output
    page = next(p for p in (tmp / "named").glob("*.html") if p.name != "index.html").read_text()
    assert _ranked(page)[0] == "Bright (ours)"
    assert "<li><b>generator</b>: test-copy[brighten=20]</li>" in page     # the id, in the details
    # one generator in two runs: told apart by the run's date, not by run ids
    again = Plan(SQUARES, (ComponentSpec("test-copy", {"brighten": 0}),), (ComponentSpec("test-brightness"),))
    other = tmp_path / "other"
    run_plan(again, other)
    res = CliRunner().invoke(app, ["leaderboard", f"{store}:{done.run_id}", str(other), "--out", str(tmp / "dup"),
                                   "--no-reports"])
    assert res.exit_code == 0, res.output
    page = next(p for p in (tmp / "dup").glob("*.html") if p.name != "index.html").read_text()
    quals = re.findall(r'data-sort="test-copy"><b>test-copy</b> <span class="qual">([^<]+)</span>', page)
    assert len(quals) == 2 and len(set(quals)) == 2 and all(q.startswith("run of 20") for q in quals)
    # an unknown metric: one error line, no page
    res = CliRunner().invoke(app, ["leaderboard", f"{store}:{done.run_id}", "-m", "nonexist", "--out",
                                   str(tmp / "none")])
    assert res.exit_code == 2 and not (tmp / "none").exists()
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: --metrics: nonexist not in the run (columns: test-brightness")


# -- in a browser -------------------------------------------------------------------------------

def _chromium(url: str, profile, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", f"--user-data-dir={profile}", *extra, url], capture_output=True, text=True,
                          timeout=120)


def _console(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_renders_in_chromium_without_console_errors_sorts_filters_and_toggles(site, tmp_path):
    folder, runs = site
    page = folder / f"{benchmark_of(runs[0]).slug}.html"
    probe = folder / "probe.html"
    # click the motion-fidelity header once (ascending), filter on "re", hide the motion column; log it
    probe.write_text(page.read_text().replace("</body>", """<script>
      function names() { return Array.prototype.filter.call(document.querySelectorAll('table.sortable tbody tr'),
        function (r) { return !r.hidden; }).map(function (r) { return r.cells[1].getAttribute('data-sort'); }); }
      document.querySelectorAll('thead tr.cols th')[3].click();
      console.log('ORDER ' + names().join(','));
      var f = document.getElementById('filter'); f.value = 're'; f.dispatchEvent(new Event('input'));
      console.log('FILTER ' + names().join(','));
      var box = document.querySelector('input[data-col="c-m0"]'); box.checked = false;
      box.dispatchEvent(new Event('change'));
      var group = document.querySelector('th[data-cols="c-m0"]');
      console.log('HIDDEN ' + document.querySelectorAll('.c-m0[hidden]').length + ' ' + group.hidden);
    </script></body>"""))
    out = {}
    for name in ("index.html", page.name, probe.name):
        proc = _chromium((folder / name).as_uri(), tmp_path / name, "--dump-dom")
        out[name] = _console(proc)
        assert "</table>" in proc.stdout or name == "index.html"
    assert out["index.html"] == [] and out[page.name] == []
    order, filtered, hidden = out[probe.name]
    assert '"ORDER reverse,static,copy"' in order      # ascending motion fidelity: −44, 4, 100
    assert '"FILTER reverse"' in filtered
    assert '"HIDDEN 4 true"' in hidden                  # the header and the three rows' cells; the group too


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_screenshots_at_two_widths(killed):
    tmp, runs = killed
    build_site(runs, tmp / "site", reports=False)
    page = next(p for p in (tmp / "site").glob("*.html") if p.name != "index.html")
    for width in (1400, 420):
        shot = tmp / f"page-{width}.png"
        proc = _chromium(page.as_uri(), tmp / f"profile-{width}", f"--window-size={width},1600", "--hide-scrollbars",
                         f"--screenshot={shot}")
        assert _console(proc) == []
        with Image.open(shot) as image:
            assert image.size == (width, 1600)
            assert len(image.convert("L").getcolors(256)) > 16   # drawn, not a blank page


def test_the_trade_off_scatter_labels_points_by_name(site, tmp_path, monkeypatch):
    """Defect: Pareto labels were '<run id>/<generator>': long enough to overlap and leave the axes."""
    import evalkit.report.site as site_module

    folder, runs = site
    seen = []
    real = site_module.pareto_plot

    def recording(results, x, y, **kw):
        seen.append(sorted(set(results["generator"])))
        return real(results, x, y, **kw)

    monkeypatch.setattr(site_module, "pareto_plot", recording)
    build_site(runs, tmp_path / "again", reports=False)
    assert seen == [["copy", "reverse", "static"]]
