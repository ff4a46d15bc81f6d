"""A loader process for kill tests: ingests, then pauses after each committed file so the test can kill it
between files. Run as ``python -c KILLABLE PATHS [WORKERS]`` (PATHS joined with os.pathsep)."""

KILLABLE = """
import os, sys, time
from tracemill.ingest import loader
orig = loader.Load.commit_batch
def slow(self, *a, **k):
    orig(self, *a, **k)
    time.sleep(0.5)   # room for the test to kill us between files
loader.Load.commit_batch = slow
loader.ingest_paths(sys.argv[1].split(os.pathsep), workers=int(sys.argv[2]) if len(sys.argv) > 2 else None)
"""
