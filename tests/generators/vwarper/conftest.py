"""V-Warper's tests share helpers across files (``from test_vwarper import make_case``): with
--import-mode=importlib no test folder is on sys.path, so put this one there (the parent
conftest does the same for ``tiny_pipelines``)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
