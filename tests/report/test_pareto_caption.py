"""The cost section's caption defines the Pareto front as the code draws it. The quick study's digits runs of
hinge-sn, lsgan and ns have the same training FLOPs (2.21e10): hinge-sn's better fid leaves the other two off the
front, though neither has a rival that is "both cheaper and better", as the caption said."""

from jinja2 import Environment

from ganbench.report.figures import pareto_front
from ganbench.report.template import SECTIONS


def test_the_caption_defines_the_front_the_code_draws():
    flops, fid = [2.18e10, 2.21e10, 2.21e10, 2.21e10], [87.6, 42.7, 47.7, 53.6]  # ns-pac2, hinge-sn, lsgan, ns
    assert pareto_front(flops, fid, lower_better=True) == [True, True, False, False]
    html = " ".join(Environment(autoescape=True).from_string(SECTIONS["cost"]).render(s={"plot": ""}).split())
    assert "both cheaper and better" not in html
    assert ("Outlined points form the Pareto front: no other variant is at least as cheap and at least as good, and "
            "strictly better on one of the two.") in html
