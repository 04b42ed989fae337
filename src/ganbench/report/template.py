"""The report's HTML template (jinja2). Self-contained: inline CSS, images as data URIs, no scripts."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ganbench study {{ name }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}tr.best td{background:#eef8ee}.sig{color:#a00}.ns{color:#777}
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid figure{margin:0;text-align:center;font-size:.8em}
.note{color:#555;font-size:.9em}code{background:#f5f5f5;padding:0 .2em}
</style></head><body>
<h1>ganbench study <code>{{ name }}</code></h1>
<p class="note">spec {{ digest }} &middot; {{ n_runs }} runs ({% for k, v in counts.items() %}{{ v }} {{ k }}{% if not loop.last %}, {% endif %}{% endfor %})
&middot; seeds per variant: {{ n_seeds }} &middot; generated {{ generated }}</p>
<p class="note">Means over seeds with 95 % confidence intervals (Student t). Ranks by mean. A variant marked
<span class="sig">&dagger;</span> is significantly worse than the rank-1 variant (paired t-test over seeds,
Holm-adjusted p &lt; 0.05); unmarked variants are <em>not</em> distinguishable from rank 1 at this number of seeds.</p>
{% for ds in datasets %}
<h2 id="ds-{{ ds.name }}">{{ ds.name }}</h2>
<h3>Leaderboard ({{ ds.primary }}, {{ ds.direction }}; checkpoint: best and final)</h3>
<p class="note">Primary metric <code>{{ ds.primary }}</code> ({{ ds.primary_source }}) orders the table and selects each run's best checkpoint. Other quality metrics: mean [95 % CI] at the final checkpoint.</p>
<table class="leaderboard" data-dataset="{{ ds.name }}">
<tr><th class="l">variant</th>{% for c in ds.checkpoints %}<th>rank ({{ c }})</th><th>{{ ds.primary }} {{ ds.arrows[ds.primary] }} ({{ c }})</th>{% endfor %}<th>n</th>{% for m in ds.other_metrics %}<th>{{ m }} {{ ds.arrows[m] }} (final)</th>{% endfor %}</tr>
{% for row in ds.rows %}<tr class="{{ 'best' if row.top else '' }}"><td class="l">{{ row.variant }}</td>
{% for c in ds.checkpoints %}<td>{{ row.rank[c] }}</td><td>{{ row.cell[c] }}{% if row.mark[c] %} <span class="sig">&dagger;</span>{% endif %}</td>{% endfor %}
<td>{{ row.n }}</td>{% for m in ds.other_metrics %}<td>{{ row.others[m] }}</td>{% endfor %}</tr>{% endfor %}
</table>
<ul>{% for v in ds.verdicts %}<li>{{ v }}</li>{% endfor %}</ul>
{% if ds.reference %}<h3>Published numbers ({{ ds.reference[0].checkpoint }} checkpoint)</h3>
<table class="reference" data-dataset="{{ ds.name }}"><tr><th class="l">variant</th><th class="l">metric</th><th>published</th><th>ours: mean [95 % CI]</th><th>ours − published</th><th>agrees</th><th class="l">other source</th></tr>
{% for r in ds.reference %}<tr data-consistent="{{ r.consistent }}"><td class="l">{{ r.variant }}</td><td class="l">{{ r.metric }}</td><td>{{ r.published }}</td><td>{{ r.ours }}</td><td>{{ r.gap }}</td><td class="mark">{{ r.mark }}</td><td class="l">{{ r.own_source }}</td></tr>{% endfor %}
</table>
<p class="note">Source: {{ ds.reference_source }}. {{ ds.reference_rule }}; – where we have fewer than 2 seeds. Agreement is not equality: with few seeds the margin is wide.</p>{% endif %}
<h3>Samples (seed {{ ds.sample_seed }}, final EMA generator)</h3>
<div class="grid">{% for f in ds.samples %}<figure><img alt="samples of {{ f.variant }}" src="data:image/png;base64,{{ f.png }}"><figcaption>{{ f.variant }}</figcaption></figure>{% endfor %}</div>
<h3>Training</h3>
{% if ds.metric_curve %}<img alt="{{ ds.primary }} against steps" src="data:image/png;base64,{{ ds.metric_curve }}">{% endif %}
<img alt="loss curves" src="data:image/png;base64,{{ ds.loss_curve }}">
<h3>Quality against cost</h3>
<img alt="quality against cost" src="data:image/png;base64,{{ ds.cost_plot }}">
<p class="note">Red points form the Pareto front: no other variant is both cheaper and better.</p>
{% endfor %}
<h2>Failed and diverged runs</h2>
{% if failed %}<table><tr><th class="l">run</th><th class="l">status</th><th class="l">reason</th></tr>
{% for r in failed %}<tr><td class="l">{{ r.run_id }}</td><td class="l">{{ r.status }}</td><td class="l">{{ r.error }}</td></tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}
<h2>Protocol</h2>
<table><tr><th class="l">dataset</th><th class="l">split</th><th>n_real</th><th>n_fake</th><th class="l">extractor</th><th class="l">sampling</th></tr>
{% for p in protocols %}<tr><td class="l">{{ p.dataset }}</td><td class="l">{{ p.split }}</td><td>{{ p.n_real }}</td><td>{{ p.n_fake }}</td><td class="l">{{ p.extractor }}</td><td class="l">EMA {{ p.ema }}, seed derived from step</td></tr>{% endfor %}</table>
<p class="note">Every number, with its full protocol (checkpoint, step, seed), is in results.json; the
leaderboard is in results.csv.</p>
</body></html>
"""
