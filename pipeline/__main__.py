import gc
import os
import sys

from pipeline.cli import run
from pipeline.errors import EXIT_INTERRUPTED

try:
    code = run()
except KeyboardInterrupt:  # an interrupt that arrived after run() had handled its own
    print("interrupted", file=sys.stderr)
    code = EXIT_INTERRUPTED
if code == EXIT_INTERRUPTED:
    # The stage's own clean-up (finally blocks, MLflow run status) has run.
    # Interpreter shutdown after a SIGTERM during training was seen to end the process by SIGINT
    # (-2) instead of 130 on a loaded machine, so the documented code is returned without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
# Every output is written and closed by now. Freezing the heap spares the interpreter's exit
# from walking the object graphs of torch, Lightning and their imports (a collection that
# takes longer than a small model's whole fit; benchmarks/TRAINING.md); atexit handlers
# (logging, MLflow) still run, and the OS reclaims the memory.
gc.freeze()
raise SystemExit(code)
