"""A pool worker is a fresh (spawned) process: what its task path imports at the top is paid by every worker
at start, whether the task uses it or not. SciPy's optimize/spatial (about 1 s on a 2-core box) are imported
where the exact Wasserstein needs them, not by importing the metric suite."""

import subprocess
import sys

HEAVY_OPTIONAL = ("scipy", "matplotlib", "jinja2", "ot", "ray")


def test_the_worker_task_path_imports_no_heavy_optional_module():
    code = ("import sys\n"
            "import ganbench.study.executors, ganbench.study.worker\n"  # the initializer and the task function
            "import ganbench.config, ganbench.training.loop, ganbench.study.evaluation, ganbench.evaluate\n"
            f"print(' '.join(m for m in {HEAVY_OPTIONAL!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
