import sys
from pathlib import Path

# The helper module sits next to the tests; make it importable under any pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
