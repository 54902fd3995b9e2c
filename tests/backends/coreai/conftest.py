"""The Core AI tests need Apple's coreai-core (``pip install bridgec[coreai]``); CI installs it."""

from __future__ import annotations

import pytest

pytest.importorskip("coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])")
