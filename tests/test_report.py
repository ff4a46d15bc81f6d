"""Reports: Markdown content, a self-contained HTML page that renders in headless Chromium without
console errors (with a screenshot), and the Slack text."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from test_gate_compare import sample_data
from tracemill.gate import GatePolicy, compare, evaluate
from tracemill.report import render_html, render_markdown, render_slack_text, write_report

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def gated():
    b, c, infos = sample_data()
    cmp = compare(b, c, infos, n_resamples=500)
    return cmp, evaluate(cmp, GatePolicy(cost={"max_increase_pct": 50}))


def test_markdown_has_verdict_scores_regressions_costs_and_clusters(gated):
    cmp, gate = gated
    md = render_markdown(cmp, gate)
    assert md.startswith("## ❌ Release gate FAILED")
    assert "| correct | 0.750 | 0.650 | -10.0 |" in md
    assert "### Regressions (" in md and "| ex000 | correct | 1.000 → 0.000 | fm_0001 | test | tr_0 | critical |" in md
    assert "❌ critical: 1 example(s) tagged 'critical' regressed: ex000 (correct)" in md
    assert "| latency p95 |" in md and "### By failure cluster" in md and "### By split" in md
    passed_first = md.index("❌") < md.index("✅")
    assert passed_first  # failed checks are listed first
    slack = render_slack_text(cmp, gate, report_url="/tmp/r.html")
    assert "Release gate FAILED" in slack and "• correct: 0.750 → 0.650" in slack and "Report: /tmp/r.html" in slack


def test_html_is_self_contained(gated):
    cmp, gate = gated
    page = render_html(cmp, gate)
    assert page.count("<svg") == 3  # scores with CI, per-cluster, cost and latency
    # No resource to fetch: no scripts, no external src/href/url(); http only in SVG namespace ids.
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "url(http" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    # user-supplied text is escaped
    cmp2 = cmp.model_copy(update={"candidate_name": "<script>alert(1)</script>"})
    assert "<script>alert" not in render_html(cmp2, gate)


def _render(html: Path, png: Path, tmp: Path) -> tuple[int, str]:
    args = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
        # any attempt to reach the network fails loudly (and shows up as a console error)
        "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,2400",
        f"--screenshot={png}", html.as_uri(),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line or "net::ERR_" in line]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (install Debian's chromium package)")
def test_html_renders_in_headless_chromium_without_console_errors(gated, tmp_path):
    cmp, gate = gated
    files = write_report(tmp_path / "reports", cmp, gate)
    png = tmp_path / "report.png"
    rc, stderr = _render(files.html, png, tmp_path)
    assert rc == 0, stderr[-2000:]
    assert _console_errors(stderr) == [], _console_errors(stderr)
    assert png.is_file() and png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {png}")  # pytest keeps the last few tmp folders for a look
    # the detector works: a page with a script error is caught
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><link rel="icon" href="data:,"><p>x</p><script>throw new Error("boom")</script>')
    rc, stderr = _render(bad, tmp_path / "bad.png", tmp_path)
    assert any("boom" in line for line in _console_errors(stderr))
