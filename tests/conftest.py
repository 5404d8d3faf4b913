"""Shared fixtures. Stand-in servers and CLI helpers live in tests/support/."""

from __future__ import annotations

import sys
from pathlib import Path

# `from tests.support import ...` must work however pytest is started (`pytest`,
# `python -m pytest`, from another directory).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
