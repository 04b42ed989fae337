"""The report's HTML (jinja2). Self-contained: inline CSS, images as data URIs, no scripts.

``PAGE`` is the frame; each dataset section has its own block in ``SECTIONS`` (same names as
``sections.SECTIONS``), rendered with that section's values as ``s``."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ganbench study {{ name }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em}.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}th{background:#f3f3f3}
td.l,th.l{text-align:left}div.scope p{margin:.3em 0}td.wrap{white-space:normal;min-width:18em;text-align:left}
tr.lead td{background:#eef8ee}tr.ref td{background:#f6f6fb;font-style:italic}
.sig{color:#a00}.floor{color:#b35c00}.collapse{color:#a00;font-weight:bold}.ns{color:#777}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.5em .8em}
.bottom{background:#eef3fb;border-left:4px solid #3b6fb6;padding:.5em .8em}
.strips figure{margin:.3em 0}.strips img{max-width:100%}
img{max-width:100%}.note{color:#555;font-size:.9em}code{background:#f5f5f5;padding:0 .2em}
details{margin:.5em 0}summary{cursor:pointer;color:#3b6fb6}
</style></head><body>
<h1>ganbench study <code>{{ name }}</code></h1>
<p class="note">spec {{ digest }} &middot; {{ n_runs }} runs ({% for k, v in counts.items() %}{{ v }} {{ k }}{% if not loop.last %}, {% endif %}{% endfor %})
&middot; seeds per variant: {{ n_seeds }} &middot; equal budget: {{ budget }} {% if as_of %}&middot; last run finished {{ as_of }}{% endif %}</p>
{% if mixed_software %}<p class="warn"><b>Made by more than one version of the software.</b> {{ mixed_software }}</p>{% endif %}
{% if unequal_seconds %}<p class="warn"><b>A budget in seconds, spent on more than one machine.</b> {{ unequal_seconds }}</p>{% endif %}
{% if overall %}<p class="bottom"><b>Bottom line.</b> {{ overall }}</p>{% endif %}
{% if datasets|length > 1 %}<p class="note">Each dataset's leaderboard, verdicts and bottom line: {% for ds in datasets %}<a href="#ds-{{ ds.name }}">{{ ds.name }}</a>{% if not loop.last %} &middot; {% endif %}{% endfor %}.</p>{% endif %}
<p class="note">Cells: mean over seeds [95 % confidence interval: Student t, clipped to the metric's bounds, e.g.
[0, 1] for a share, 0 for a distance, and for a count of modes or classes (a KL to the uniform histogram) the dataset's
number of them (its logarithm) where the dataset declares it: the built-in ones do, user folders and arrays do not];
"(every seed)": every seed gave that value, so there is no interval. Rank: the order of the final means (equal means share a rank), not a test. Marks: <span class="sig">&dagger;</span> significantly worse than the leader (paired t-test over seeds, Holm-adjusted
p &lt; 0.05); <span class="floor">&#9661;</span> interval not better than a trivial generator
(<span class="ns">?</span> one seed: no interval, so it cannot be told);
<span class="collapse">&#10006;k</span> k seeds collapsed (no mode or no high-quality sample). Variants without &dagger; (whatever their other marks) are <em>not</em>
distinguishable from the leader at this number of seeds; each such verdict says what difference the study could have detected.</p>
{% for ds in datasets %}
<h2 id="ds-{{ ds.name }}">{{ ds.name }}</h2>
{% for html in ds.sections %}{{ html }}{% endfor %}
{% endfor %}
<h2>Failed, diverged, collapsed and floor-level runs</h2>
<p class="note"><i>collapsed</i>: the final generator covers no mode or has no high-quality sample. <i>not better than
trivial</i>: its primary metric is not better than the better trivial generator's, under the same protocol.</p>
{% if failed %}<div class="scroll"><table><tr><th class="l">run</th><th class="l">status</th><th class="l">reason</th></tr>
{% for r in failed %}<tr><td class="l">{{ r.run_id }}</td><td class="l">{{ r.status }}</td><td class="wrap">{{ r.error }}</td></tr>{% endfor %}</table></div>
{% else %}<p>None.</p>{% endif %}
<h2>Protocol</h2>
<div class="scroll"><table><tr><th class="l">dataset</th><th class="l">numbers</th><th class="l">reference split</th><th>n_real</th><th>n_fake</th><th class="l">extractor</th><th class="l">sampling</th></tr>
{% for p in protocols %}<tr><td class="l">{{ p.dataset }}</td><td class="l">{{ p.role }}</td><td class="l">{{ p.split }}</td><td>{{ p.n_real }}</td><td>{{ p.n_fake }}</td><td class="l">{{ p.extractor }}</td><td class="l">{{ p.sampling }}</td></tr>{% endfor %}</table></div>
<ul class="note">{% for line in protocol_notes %}<li>{{ line }}</li>{% endfor %}</ul>
<p class="note">Every number, with its full protocol (checkpoint, step, seed), is in results.json; the
leaderboard (with each metric's direction and unit) is in results.csv. <code>ganbench study verify DIR</code>
recomputes the evaluations and reference rows from the runs' checkpoints and the data, and names any value
that differs from this report's; with <code>--retrain K</code> it also trains K runs again from their stored
configs and compares every checkpoint they ship tensor by tensor.</p>
</body></html>
"""

SECTIONS = {
    "leaderboard": """
<h3>Leaderboard: {{ s.primary }} {{ s.arrow }} ({{ s.direction }} is better)</h3>
{% if not s.refs %}<p class="warn"><b>No reference rows</b> (real data, trivial generators) for this dataset: the table has
no ceiling and no floor, so it cannot say whether any variant beats a trivial generator. A store rebuilt from the runs'
own files, or merged from studies without them, lacks them until <code>ganbench study resume {{ s.study }}</code> draws
them.</p>{% endif %}
{% if s.floor_state == "noise" %}<p class="warn"><b>No variant is better than a trivial generator</b> ({{ s.floor[0] }}:
{{ '%.4g' % s.floor[1] }}) on {{ s.primary }}{% if s.others %}, nor on any other quality metric{% endif %}. The order below is a
ranking of noise; give the runs a longer budget.</p>
{% elif s.floor_state == "elsewhere" %}<p class="warn"><b>No variant is better than a trivial generator</b> ({{ s.floor[0] }}:
{{ '%.4g' % s.floor[1] }}) on {{ s.primary }}, the metric that orders this table; on {{ s.elsewhere }} they are. A trivial
generator models nothing, yet scores as well as the runs on {{ s.primary }}: the order below is not a ranking of quality
by itself. Read it beside the other columns, or rank by another metric (<code>eval.primary</code>).</p>{% endif %}
<p class="note">{{ s.primary }}: {{ s.meaning }}; {{ s.source }}. It orders the table and selects each run's best
checkpoint. <i>best</i> is reported from an independent evaluation (other samples, the test split), <i>final</i> is
the last checkpoint.{% if s.sizes %} Their reference sets differ in size (best: the {{ s.sizes.best[0] }} split's {{ s.sizes.best[1] }}
rows; final: the {{ s.sizes.final[0] }} split's {{ s.sizes.final[1] }}), and {{ s.primary }} can depend on the sample count: compare
values within a column, not across the two.{% endif %} "still improving": seeds whose {{ s.primary }} got better over the last evaluation interval by more
than 2&radic;2 times the evaluation noise{% if s.noise %} (one evaluation's std: {{ s.noise }}){% endif %}. Reference rows
use the runs' reference set and extractor: <i>real data</i> is the ceiling, the better trivial generator the floor;
real data brings no more rows than its held-out split has, so its sample count can be smaller than the runs' (see
Protocol).</p>
<div class="scroll"><table class="leaderboard">
<tr><th class="l">variant</th><th>rank</th><th>{{ s.primary }} {{ s.arrow }} final</th><th>{{ s.primary }} best (held-out)</th><th>seeds</th><th>still improving</th>
{% for m in s.others %}<th>{{ m }} {{ s.arrows[m] }}</th>{% endfor %}</tr>
{% for r in s.rows %}<tr class="{{ 'lead' if r.rank.final == 1 else '' }}"><td class="l">{{ r.variant }}{% for cls, mark, title in r.marks %} <span class="{{ cls }}" title="{{ title }}">{{ mark }}</span>{% endfor %}</td>
<td>{{ r.rank.final if r.rank.final is not none else '–' }}</td><td>{{ r.cells.final }}</td><td>{{ r.cells.best }}</td><td>{{ r.n }}</td><td>{{ r.improving }}</td>
{% for m in s.others %}<td>{{ r.others[m] }}</td>{% endfor %}</tr>{% endfor %}
{% for r in s.refs %}<tr class="ref"><td class="l">{{ r.variant }}{% if r.role %} ({{ r.role }}){% endif %}</td><td>–</td><td>{{ r.cells.final }}</td><td>{{ r.cells.best }}</td><td></td><td></td>
{% for m in s.others %}<td>{{ r.others[m] }}</td>{% endfor %}</tr>{% endfor %}
</table></div>
<p class="note">Other quality metrics at the final checkpoint, mean [95 % CI].{% if s.units %} Units: {{ s.units }}.{% endif %}
{% if s.unclear %}No variant's interval is better than the better trivial generator on {{ s.unclear | join(", ") }}:
{{ "that column does" if s.unclear | length == 1 else "those columns do" }} not tell these runs from a trivial generator.{% endif %}
{% for m, vs in s.beyond %}{{ vs | join(", ") }} score{{ "s" if vs | length == 1 }} better than real data on {{ m }} (by the mean):
real samples are as good as a generator can be, so that column cannot tell {{ "it" if vs | length == 1 else "them" }} from real data at this sample count.
{% endfor %}{% for m, meaning in s.unbounded %}{{ m }} has no lower bound ({{ meaning }}): its values and interval are not clipped at 0.
{% endfor %}</p>
""",
    "verdicts": """
<h3>Verdicts on {{ s.primary }} (every variant against the leader, {{ s.leader }}; final checkpoint{% if s.step %}, step {{ s.step }}{% endif %})</h3>
<p class="bottom"><b>Bottom line.</b> {{ s.bottom }}</p>
{% if s.warn %}<p class="warn">{{ s.still }} of {{ s.judged }} runs were still improving when the budget ran out
(the bottom line's caveat). <code>ganbench study confirm</code> re-tests these verdicts with a longer budget on fresh
seeds.</p>{% endif %}
{% if s.looked_again %}<p class="warn">{{ s.looked_again }} <code>ganbench study confirm</code> re-tests the
verdicts on fresh seeds chosen before any look.</p>{% endif %}
{% if s.recent %}<p class="warn">{{ s.leader }}'s significant lead over {{ s.recent|join(', ') }} appeared only at the final
evaluation: at the one before, the order was not the same. A verdict that new may not survive a longer budget.</p>{% endif %}
{% if s.unrepeated %}<p class="warn">{{ s.leader }}'s significant lead over {{ s.unrepeated|join(', ') }} does not hold
on a second evaluation of the same checkpoints with other samples: it rests on the evaluation's draw, not on the
generators. Evaluate with more samples (<code>eval.n</code>) before trusting it.</p>{% endif %}
<ul>{% for v in s.sentences %}<li>{{ v }}</li>{% endfor %}</ul>
{% if s.others %}<p>Significant differences between the other variants (after the same Holm correction):</p>
<ul>{% for v in s.others %}<li>{{ v }}</li>{% endfor %}</ul>{% endif %}
<details><summary>All {{ s.table|length }} paired comparisons ({{ s.n_pairs }} pair{{ 's' if s.n_pairs != 1 }} of variants on each of {{ s.n_metrics }}
quality metric{{ 's' if s.n_metrics != 1 }} at {{ s.n_checkpoints }} checkpoint{{ 's' if s.n_checkpoints != 1 }}; the verdicts above are the
rows of {{ s.primary }} at the final checkpoint)</summary>
<div class="scroll"><table><tr><th class="l">metric</th><th class="l">checkpoint</th><th class="l">a</th><th class="l">b</th><th>seeds</th><th>mean a&minus;b</th><th>p</th><th>Holm p</th><th>a wins</th><th>detectable (80 %)</th><th>seeds needed</th></tr>
{% for p in s.table %}<tr><td class="l">{{ p.metric }}</td><td class="l">{{ p.checkpoint }}</td><td class="l">{{ p.a }}</td><td class="l">{{ p.b }}</td><td>{{ p.n }}</td><td>{{ p.diff }}</td><td>{{ p.p }}{% if p.sign %} (sign){% elif p.equal %} (equal){% endif %}</td><td class="{{ 'sig' if p.sig else 'ns' }}">{{ p.p_holm }}</td><td>{{ p.win }}</td><td>{{ p.mdd }}</td><td>{{ p.need }}</td></tr>{% endfor %}
</table></div>
<p class="note">Holm p: adjusted over the {{ s.n_pairs }} pair{{ 's' if s.n_pairs != 1 }} of one metric at one checkpoint, not across the
{{ s.n_metrics * s.n_checkpoints }} such families in this table: outside the verdicts' rows a Holm p below 0.05 is a lead
to follow up, not a finding. mean a&minus;b is signed as a&minus;b whatever the metric's direction (&darr;: lower is
better); a wins: the share of paired seeds on which a is better in that direction (ties count for neither). p (sign):
every seed differed by the same amount, so p is the exact sign test's; p (equal): both variants gave the same value on
every seed, nothing to test, p = 1. Detectable: the smallest difference found 4 times
in 5 (paired t-test at Holm's strictest level); one larger than the metric's range means no difference it can show.
Seeds needed: about how many paired seeds a difference as large as the observed one needs to be
found 4 times in 5. Both columns use the spread of paired differences observed here, which at few seeds is more
often below the true one: they are typical figures, not guarantees (simulated with the report's own functions, a
stated detectable difference is found about 68 % of the time at 3 seeds, 73 % at 5 and 77 % at 10;
benchmarks/verdict_calibration.py); &ndash; where there is no spread or no difference to compute them from, or more than 10,000 seeds
would be needed. <code>ganbench study extend DIR --seeds N</code> adds seeds and keeps these
runs; the report then says that the verdicts were looked at twice.</p></details>
""",
    "confirmation": """
<h3>Confirmation of {{ s.study }}'s verdicts on {{ s.metric }} (final checkpoint)</h3>
<p class="bottom">{{ s.summary }}</p>
<div class="scroll"><table class="confirmation"><tr><th class="l">order in {{ s.study }}</th><th>mean there</th><th>Holm p there</th><th>mean here</th><th>Holm p here</th><th>re-test Holm p</th><th>kept</th></tr>
{% for r in s.rows %}<tr><td class="l">{{ r.order }}</td><td>{{ r.then }}</td><td class="{{ 'sig' if r.sig_then else 'ns' }}">{{ r.p_then }}</td><td>{{ r.now }}</td><td class="{{ 'sig' if r.sig_now else 'ns' }}">{{ r.p_now }}</td><td class="{{ 'sig' if r.confirmed else 'ns' }}">{{ r.p_retest }}</td><td class="mark">{{ r.mark }}</td></tr>{% endfor %}
</table></div>
<p class="note">This study is {{ s.study }} (spec {{ s.digest }}) {{ s.trained }} on seeds it did not use. Each order is
written better mean first, and both means are of that difference over paired seeds. Kept (✓): the mean difference here has
the same sign. {{ s.study }}'s significant verdicts were fixed before this study ran, each with its direction: the re-test
Holm p is the one-sided test in that direction (half the two-sided p when the sign is kept), Holm-adjusted over all this
dataset's significant verdicts (one that cannot be tested here counts as not confirmed), and a verdict below 5 % is confirmed. The family is the dataset's, as {{ s.study }}'s
verdicts were: with equal variants a dataset confirms any of them about 5 % of the time at most, but a study of several datasets
confirms something on one of them more often (two: up to about 10 %). Holm p here is this study's own two-sided test over all its
pairs, as in its verdicts table: what it would call significant without the first study.</p>
""",
    "published": """
<h3>Published numbers ({{ s.reference[0].checkpoint }} checkpoint)</h3>
{% if s.reference_scope %}<div class="scope">{% for cls, line in s.reference_scope %}<p class="{{ cls }}">{{ line }}</p>{% endfor %}</div>{% endif %}
<div class="scroll"><table class="reference" data-dataset="{{ s.name }}"><tr><th class="l">variant</th><th class="l">metric</th><th>published</th><th>ours: mean [95 % CI]</th><th>ours − published</th><th>agrees</th><th class="l">other source</th></tr>
{% for r in s.reference %}<tr data-consistent="{{ r.consistent }}"><td class="l">{{ r.variant }}</td><td class="l">{{ r.metric }}</td><td>{{ r.published }}</td><td>{{ r.ours }}</td><td>{{ r.gap }}</td><td class="mark">{{ r.mark }}</td><td class="l">{{ r.own_source }}</td></tr>{% endfor %}
</table></div>
<p class="note">Source: {{ s.reference_source }}. {{ s.reference_rule }}; – where we have fewer than 2 seeds. Agreement is not equality: with few seeds the margin is wide.</p>
""",
    "samples": """
<h3>Samples ({{ s.heading }})</h3>
<div class="strips">{% for f in s.strips %}<figure{% if f.real %} class="real"{% endif %}><figcaption>{{ f.variant }}</figcaption>{% if f.png %}<img alt="{{ 'real data' if f.real else 'samples of ' ~ f.variant ~ ', every seed' }}" src="data:image/png;base64,{{ f.png }}">{% endif %}{% for line in f.not_drawn %}<p class="warn not-drawn">Not drawn: {{ line }}</p>{% endfor %}</figure>{% endfor %}</div>
""",
    "training": """
<h3>Training</h3>
{% if s.metric_curve %}<img alt="primary metric against steps" src="data:image/png;base64,{{ s.metric_curve }}">{% endif %}
<img alt="loss curves" src="data:image/png;base64,{{ s.loss_curve }}">
""",
    "cost": """
<h3>Quality against training cost</h3>
<img alt="quality against cost" src="data:image/png;base64,{{ s.plot }}">
<p class="note">Outlined points form the Pareto front: no other variant is at least as cheap and at least as good, and
strictly better on one of the two. Each point is a
variant's mean over its finished seeds, drawn without its spread: the front orders means and is not a test (the
leaderboard's intervals and the verdicts say which differences are significant). Training FLOPs
count G's and D's forward and backward passes, n_dis, packing, regularizer passes and the EMA (not the optimizer updates);
they are counted, so the machine's load does not change them. Train seconds are wall-clock
time on the machine as it was loaded during the study (a pool's workers share its cores), so they vary between seeds of
one recipe: the table gives their range.{% if s.order == "interleaved" %} The runs started seed by seed across variants
(every variant's first seed, then every variant's second, ...), so load that drifted during the study fell on all
variants alike.{% endif %}</p>
{% if s.order == "back to back" %}<p class="warn">This study's runs started each variant's seeds back to back (as
ganbench did until 2026-11-29): load that drifted during the study fell on whole variants, so a difference in train
seconds between variants may say when each ran rather than what it costs; compare their training FLOPs.</p>{% endif %}
{% if s.machines %}<p class="warn">{{ s.machines }}</p>{% endif %}
<details><summary>Cost per run</summary><div class="scroll"><table><tr><th class="l">variant</th><th>training FLOPs</th><th>train seconds: mean (min–max over seeds)</th></tr>
{% for r in s.table %}<tr><td class="l">{{ r.variant }}</td><td>{{ r.flops }}</td><td>{{ r.seconds }}</td></tr>{% endfor %}</table></div></details>
""",
}
