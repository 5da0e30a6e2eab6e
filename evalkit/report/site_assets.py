"""The leaderboard site's inline stylesheet and script (offline: no CDN, no framework): sortable
columns (click a header), a filter box over the rows, and column toggles that keep the group
headers' spans right."""
from __future__ import annotations

from .html_report import CSS

SITE_JS = """
function each(list, f) { Array.prototype.forEach.call(list, f); }
each(document.querySelectorAll('table.sortable'), function (table) {
  each(table.querySelectorAll('thead tr.cols th'), function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      each(table.querySelectorAll('thead th'), function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-sort'), y = b.cells[col].getAttribute('data-sort');
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
var filter = document.getElementById('filter');
if (filter) {
  filter.addEventListener('input', function () {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    each(document.querySelectorAll('table.filterable tbody tr'), function (row) {
      var text = (row.getAttribute('data-search') || row.textContent).toLowerCase();
      var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
      row.hidden = !keep;
      if (keep) { shown += 1; }
    });
    document.getElementById('shown').textContent = words.length ? shown + ' shown' : '';
  });
}
each(document.querySelectorAll('input[data-col]'), function (box) {
  box.addEventListener('change', function () {
    var col = box.getAttribute('data-col');
    each(document.querySelectorAll('.' + col), function (cell) { cell.hidden = !box.checked; });
    each(document.querySelectorAll('th[data-cols]'), function (group) {
      var visible = group.getAttribute('data-cols').split(' ').filter(function (c) {
        var box = document.querySelector('input[data-col="' + c + '"]');
        return !box || box.checked;
      }).length;
      group.colSpan = Math.max(visible, 1);
      group.hidden = visible === 0;
    });
  });
});
"""
SITE_CSS = CSS + """
body{margin:16px auto;padding:0 16px}
table.sortable thead tr.cols th{cursor:pointer}
th[data-dir=asc]::after{content:' ▲'} th[data-dir=desc]::after{content:' ▼'}
th.group{text-align:center;background:#e8eef6} details{font-size:.85em;text-align:left} nav a{margin-right:12px}
.scroll{overflow-x:auto;max-width:100%}
table.evalkit-table td.name,table.evalkit-table td.status,table.evalkit-table td.reason{text-align:left}
table.evalkit-table td.name{white-space:nowrap} table.evalkit-table td.reason{min-width:18em}
.chip{display:inline-block;background:#eef1f5;border:1px solid #d5dbe3;border-radius:10px;padding:0 7px;
 margin:1px 2px;font-size:.78em;color:#333;white-space:nowrap;max-width:22em;overflow:hidden;text-overflow:ellipsis;
 vertical-align:middle}
.qual{display:block;font-size:.78em;color:#666}
.badge{display:inline-block;border-radius:4px;padding:1px 6px;line-height:1.35;font-size:.8em;
  font-weight:600;white-space:nowrap}
.b-complete{background:#e3f3e6;color:#1d6b2c} .b-partial{background:#fff1d6;color:#8a5a00}
.b-interrupted,.b-failed{background:#fde2e1;color:#a3211b} .b-running{background:#e1ecfd;color:#1b4fa3}
tr.unfinished td{background:#fffaf0} tr.unfinished td.rank::after{content:' *';color:#a3211b}
.controls{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;margin:10px 0}
.controls input[type=search]{padding:4px 8px;min-width:20em;font-size:.95em}
.toggles{font-size:.85em;border:0;padding:0;margin:0} .toggles label{margin-right:10px;white-space:nowrap}
#shown{font-size:.85em;color:#555}
ul.benchmarks{list-style:none;padding:0} ul.benchmarks li{padding:8px 0;border-bottom:1px solid #eee}
ul.benchmarks .meta{display:block;font-size:.85em;color:#555;margin-top:2px}
figure{margin:12px 0} figcaption{font-size:.85em;color:#555}
@media (max-width:600px){body{margin:8px auto;padding:0 8px} h1{font-size:1.3em}
 .controls input[type=search]{min-width:0;width:100%}
 table.evalkit-table{font-size:.8em} table.evalkit-table td.name{white-space:normal;min-width:7em}}
"""
