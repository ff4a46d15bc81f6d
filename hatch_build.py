"""Hatchling build hook: compile the optional C fast path for OTLP ingest when a C compiler is there.

``src/tracemill/ingest/_otlp_native.c`` is one file against the CPython API (it includes the vendored
yyjson reader, ``_vendor/yyjson``), so it is built with the compiler and flags this Python was built
with (``sysconfig``). Without a compiler (or the Python
headers) the build goes on, prints why, and tracemill runs its pure-Python mapper instead: the
README's "only Python and make" set-up keeps working, only slower at ingest.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/tracemill/ingest/_otlp_native.c")
PACKAGE_DIR = "tracemill/ingest"


def compile_extension(root: Path, out_dir: Path) -> Path | None:
    """Build ``_otlp_native<EXT_SUFFIX>`` into ``out_dir``; None (with a note on stderr) when it cannot."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    ldshared = os.environ.get("LDSHARED") or sysconfig.get_config_var("LDSHARED") or f"{cc} -shared"
    out = out_dir / f"_otlp_native{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"
    obj = out.with_suffix(".o")
    include = sysconfig.get_paths()["include"]
    steps = [
        [*shlex.split(cc), "-O2", "-fPIC", "-fwrapv", "-DNDEBUG", f"-I{include}", "-c", str(root / SOURCE), "-o", str(obj)],
        [*shlex.split(ldshared), str(obj), "-o", str(out)],
    ]
    for cmd in steps:
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as e:
            detail = getattr(e, "stderr", None) or str(e)
            print(f"tracemill: the C fast path for OTLP ingest was not built ({detail.strip()[:400]}); "
                  "ingest uses the pure-Python mapper", file=sys.stderr)
            return None
    obj.unlink(missing_ok=True)
    return out


class CustomBuildHook(BuildHookInterface):
    """Compile next to the sources for an editable install, into the wheel otherwise."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("TRACEMILL_NO_NATIVE_BUILD"):
            return
        root = Path(self.root)
        if version == "editable":
            built = compile_extension(root, root / SOURCE.parent)
        else:
            built = compile_extension(root, Path(tempfile.mkdtemp(prefix="tracemill-native-")))
            if built is not None:
                build_data["force_include"][str(built)] = f"{PACKAGE_DIR}/{built.name}"
        if built is not None:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
