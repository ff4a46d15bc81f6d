"""A self-contained HTML report: inline CSS and SVG charts, no scripts, fonts or links to fetch."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from tracemill.gate.compare import Comparison
from tracemill.gate.policy import GateResult
from tracemill.report import charts
from tracemill.report.markdown import headline, stats_rows

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>tracemill · {{ title }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e3e6eb;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0} th,td{padding:.3rem .5rem;border-bottom:1px solid #eceef2;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} .pass{color:#2e9d57} .fail{color:#c8423b}
.verdict{padding:.7rem 1rem;border-radius:6px;font-weight:600} .verdict.pass{background:#e8f6ee} .verdict.fail{background:#fbeaea}
.muted{color:#6b7280;font-size:12px} svg{max-width:100%;height:auto} code{background:#f3f4f6;padding:0 .25rem;border-radius:3px}
</style></head><body>
<h1>{{ title }}</h1>
{% if gate %}<p class="verdict {{ 'pass' if gate.passed else 'fail' }}">{{ 'PASSED' if gate.passed else 'FAILED' }} · policy <code>{{ gate.policy_name }}</code></p>
<ul>{% for ch in checks %}<li class="{{ 'pass' if ch.passed else 'fail' }}">{{ '✔' if ch.passed else '✘' }} {{ ch.reason }}</li>{% endfor %}</ul>{% endif %}
<p>{{ c.n_examples }} paired examples{% if c.dataset_ref %} on dataset <code>{{ c.dataset_ref }}</code>{% endif %}.
Differences are candidate − baseline in points (1 pt = 0.01 on a 0–1 score), with {{ level }} paired-bootstrap confidence intervals.</p>
<h2>Score per evaluator</h2>
{{ scores_svg }}
<table><tr><th>Evaluator</th><th class="n">Baseline</th><th class="n">Candidate</th><th class="n">Δ pts</th><th>{{ level }} CI</th><th>Test</th><th class="n">p</th><th class="n">Regressed</th><th class="n">Improved</th><th class="n">Flaky (b/c)</th></tr>
{% for m in c.metrics %}<tr><td>{{ m.key }}</td><td class="n">{{ '%.3f'|format(m.baseline_mean) }}</td><td class="n">{{ '%.3f'|format(m.candidate_mean) }}</td>
<td class="n {{ 'fail' if m.ci_high < 0 else 'pass' if m.ci_low > 0 else '' }}">{{ '%+.1f'|format(m.delta*100) }}</td><td>[{{ '%+.1f'|format(m.ci_low*100) }}, {{ '%+.1f'|format(m.ci_high*100) }}]</td>
<td>{{ m.test }}</td><td class="n">{{ '%.3g'|format(m.p_value) }}</td><td class="n">{{ m.n_regressions }}</td><td class="n">{{ m.n_improvements }}</td><td class="n">{{ m.baseline_flaky }}/{{ m.candidate_flaky }}</td></tr>{% endfor %}
</table>
<h2>Regressions ({{ regressions|length }})</h2>
{% if regressions %}<table><tr><th>Example</th><th>Evaluator</th><th class="n">Baseline</th><th class="n">Candidate</th><th>Cluster</th><th>Split</th><th>Source trace</th><th>Tags</th></tr>
{% for e in regressions[:max_rows] %}<tr><td><code>{{ e.example_id }}</code></td><td>{{ e.key }}</td><td class="n">{{ '%.3f'|format(e.baseline_score) }}</td><td class="n">{{ '%.3f'|format(e.candidate_score) }}</td>
<td>{{ e.cluster_id or '—' }}</td><td>{{ e.split or '—' }}</td><td><code>{{ e.source_trace_id or '—' }}</code></td><td>{{ e.tags|join(', ') }}</td></tr>{% endfor %}
</table>{% if regressions|length > max_rows %}<p class="muted">…and {{ regressions|length - max_rows }} more in the comparison_examples table.</p>{% endif %}
{% else %}<p>None.</p>{% endif %}
<h2>By failure cluster</h2>
{% if cluster_svg %}{{ cluster_svg }}{% else %}<p class="muted">The examples carry no failure-cluster lineage.</p>{% endif %}
<h2>Cost and latency</h2>
{{ cost_svg }}
<table><tr><th></th><th class="n">Baseline</th><th class="n">Candidate</th><th class="n">Δ</th></tr>
{% for a, b, k, d in stats %}<tr><td>{{ a }}</td><td class="n">{{ b }}</td><td class="n">{{ k }}</td><td class="n">{{ d }}</td></tr>{% endfor %}</table>
<p class="muted">comparison {{ c.comparison_id }} · baseline {{ c.baseline_id }} · candidate {{ c.candidate_id }}{% if gate %} · gate {{ gate.gate_id }}{% endif %} · {{ c.created_at.strftime('%Y-%m-%d %H:%M UTC') }}</p>
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(comparison: Comparison, gate: GateResult | None = None, *, max_rows: int = 50) -> str:
    """The report as one HTML string with inline SVG charts."""
    margin = None
    if gate is not None:
        bounds = {ch.threshold for ch in gate.checks if ch.name == "max_regression" and ch.threshold is not None}
        margin = -bounds.pop() if len(bounds) == 1 else None  # one line only when all evaluators share it
    first_key = comparison.metrics[0].key if comparison.metrics else None
    return _ENV.from_string(_TEMPLATE).render(
        title=headline(comparison, gate, emoji=False).replace("`", ""),
        c=comparison,
        gate=gate,
        checks=sorted(gate.checks, key=lambda x: x.passed) if gate else [],
        level=f"{comparison.confidence:.0%}",
        regressions=comparison.regressions,
        max_rows=max_rows,
        stats=stats_rows(comparison),
        scores_svg=Markup(charts.scores_chart(comparison, margin)) if comparison.metrics else "",
        cluster_svg=Markup(svg) if (svg := charts.cluster_chart(comparison, first_key)) else None,
        cost_svg=Markup(charts.cost_latency_chart(comparison)),
    )
