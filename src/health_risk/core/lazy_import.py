"""One first-use import of a heavy library at a time.

Every ``kedro run`` imports every pipeline to register it, so the heavy libraries (sklearn,
scipy, pandera, shap, sdv, xgboost, onnx, samplics) are imported by the functions that use them.
Under Kedro's ThreadRunner two nodes can then import the same package at once through different
submodules, and a package whose modules import each other makes importlib raise
``_DeadlockError`` in one of the two threads (seen with pandera: two studies' ingestion nodes
importing ``pandera.config`` and ``pandera.pyspark`` on a fresh process). These imports take
this process-wide lock; once a module is imported, taking it costs a few microseconds.
"""

from __future__ import annotations

import threading

# Re-entrant: an import under the lock may run code that imports lazily again.
LAZY_IMPORT_LOCK = threading.RLock()
