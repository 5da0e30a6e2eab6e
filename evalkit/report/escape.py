"""Escaping for every output format, in one place.

Any text that reaches a report (generator labels and their options, categories, case ids,
metric columns, notes, provenance) goes through :func:`escape` for its format, so a label such
as ``\\input{/etc/hostname}``, ``<script>``, ``=HYPERLINK(...)`` or ``$x$`` is printed as
itself and never interpreted. Control characters (newlines, tabs, NUL, ...) become spaces in
every format: a table cell is one line.

Formats: ``latex`` (pdflatex-safe: specials escaped, the symbols reports use mapped to math,
accented letters to accent commands, anything else to ``[U+XXXX]``), ``markdown`` (CommonMark
and GitHub tables: no HTML, no links, no emphasis, no block markers), ``html``, ``csv`` (a cell
that a spreadsheet would read as a formula is prefixed with ``'``), ``plot`` (matplotlib
mathtext ``$`` escaped). Console output (progress labels, ``evalkit list``) is never parsed as rich
markup (``markup=False``, ``Text`` cells), so it needs no escaping.
"""
from __future__ import annotations

import html as _html
import re
import unicodedata

FORMATS = ("latex", "markdown", "html", "csv", "plot")


def clean(text: object) -> str:
    """``str(text)`` with every control or line-separator character replaced by a space."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(text))


def escape(text: object, fmt: str) -> str:
    """``text`` written literally in ``fmt`` (one of FORMATS)."""
    try:
        return _ESCAPERS[fmt](clean(text))
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}") from None


# -- LaTeX ------------------------------------------------------------------------------------

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
                  "`": r"\textasciigrave{}", "[": "{[}", "]": "{]}"}
_LATEX_SYMBOLS = {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$", "±": r"$\pm$", "—": "---",
                  "–": "--", "≤": r"$\leq$", "≥": r"$\geq$", "→": r"$\rightarrow$", "−": "$-$",
                  "Δ": r"$\Delta$", "…": r"\ldots{}", "↳": r"$\hookrightarrow$", "τ": r"$\tau$",
                  "√": r"$\surd$", "·": r"$\cdot$", "°": r"$^\circ$", "µ": r"$\mu$", "²": r"$^2$",
                  "’": "'", "‘": "`", "“": "``", "”": "''", "\u00a0": "~", "ß": r"{\ss}", "ø": r"{\o}",
                  "Ø": r"{\O}", "æ": r"{\ae}", "Æ": r"{\AE}", "å": r"{\aa}", "Å": r"{\AA}"}
# combining marks (after NFD) -> the accent command that puts them on a letter
_LATEX_ACCENTS = {"\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0308": '"', "\u0304": "=",
                  "\u0307": ".", "\u0327": "c", "\u030c": "v", "\u0306": "u", "\u030a": "r", "\u030b": "H"}
# a minus sign: a hyphen before a digit that does not follow a letter, digit or point ("-0.5",
# "(Δ -4.6)"), not the hyphen of a name ("frame-16", "wan2.1-1.3b")
_MINUS = re.compile(r"(?<![\w.\-])-(?=\.?\d)")


def latex_escape(text: object) -> str:
    """Escape LaTeX specials and map symbols, so pdflatex compiles the result and prints the text."""
    text = clean(text)
    out = []
    for i, ch in enumerate(text):
        nxt = text[i + 1:i + 2]
        if ch == "-" and _MINUS.match(text, i):
            out.append("$-$")
        elif ch in "-'" and nxt == ch:   # no ligature: "--" is not an en dash, "''" not a quote
            out.append(ch + "{}")
        elif ch == "*" and i == 0:      # after a row's \\ it would be read as \\*
            out.append("{*}")
        elif ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_SYMBOLS:
            out.append(_LATEX_SYMBOLS[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(_latex_letter(ch))
    return "".join(out)


def _latex_letter(ch: str) -> str:
    """An accented Latin letter as an accent command (é -> \\'{e}); anything else as [U+XXXX]."""
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    if base.isascii() and base.isalpha() and marks and all(m in _LATEX_ACCENTS for m in marks):
        for m in marks:
            base = "\\" + _LATEX_ACCENTS[m] + "{" + base + "}"
        return base
    return f"{{[}}U+{ord(ch):04X}{{]}}"


# -- Markdown ---------------------------------------------------------------------------------

# always escaped: backslash escapes, code spans, emphasis, strikethrough, table cells, raw HTML
_MD_ALWAYS = set("\\`*~|<")


def markdown_escape(text: object) -> str:
    """Text that CommonMark and GitHub show literally (no HTML, link, emphasis or block marker)
    and that stays readable in a terminal: brackets, underscores in names and hyphens are only
    escaped where they could mean something."""
    text = clean(text).strip()
    links = "](" in text or (text.startswith("[") and "]:" in text)   # an inline link / a definition
    out = []
    for i, ch in enumerate(text):
        prev, nxt = text[i - 1] if i else "", text[i + 1:i + 2]
        if ch in _MD_ALWAYS or (ch in "[]" and links):
            out.append("\\" + ch)
        elif ch == "_" and not (prev.isalnum() and nxt.isalnum()):   # snake_case stays as it is
            out.append("\\_")
        elif ch == "&" and (nxt.isalnum() or nxt == "#"):             # would start an entity reference
            out.append("\\&")
        elif ch == "#" and prev in " \t" and not text[i:].strip("# \t"):  # a heading's closing sequence
            out.append("\\#")
        else:
            out.append(ch)
    return _block_start("".join(out))


def _block_start(text: str) -> str:
    """Escape what would make the text a heading, quote, list item or thematic break where it
    starts a line (a footnote after '- ', a title after '### ')."""
    if not text:
        return text
    first, rest = text[0], text[1:]
    if first in "#>":
        return "\\" + text
    if first in "-+=" and (not rest or rest[0] in " \t" or set(text) <= {first, " "}):
        return "\\" + text
    digits = re.match(r"\d{1,9}([.)])(?=\s|$)", text)
    if digits:
        return text[:digits.start(1)] + "\\" + text[digits.start(1):]
    return text


# -- HTML, CSV, plots -----------------------------------------------------------------------

def html_escape(text: object) -> str:
    return _html.escape(clean(text), quote=True)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def csv_cell(text: object) -> str:
    """A text cell a spreadsheet will not evaluate: formula-like text gets a leading ``'``
    (OWASP CSV injection); plain numbers stay numbers."""
    text = clean(text)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def plot_escape(text: object) -> str:
    """Matplotlib text shown as itself: ``$`` would start mathtext."""
    return clean(text).replace("\\", "\\\\").replace("$", r"\$")


_ESCAPERS = {"latex": latex_escape, "markdown": markdown_escape, "html": html_escape, "csv": csv_cell,
             "plot": plot_escape}
