"""Where the suite finds the repository's files, whichever folder a test lives in."""

from __future__ import annotations

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent  # test data: corpora, engine cases, action samples
ROOT = SUPPORT.parent.parent
SHIPPED_FLOWS = ROOT / "flows"
