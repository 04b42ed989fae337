import json

import torch
from torch import nn

from ganbench.metrics.efficiency import efficiency, flops_per_sample, parameter_count, train_step_time


def test_counts_of_a_known_network():
    G = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert parameter_count(G) == 4 * 8 + 8 + 8 * 3 + 3
    assert flops_per_sample(G, 4) == 2 * (4 * 8 + 8 * 3)  # multiply-adds, x2


def test_efficiency_report(tmp_path):
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"step": 10, "sec_per_step": 0.2, "wall_s": 2.0}, {"step": 20, "sec_per_step": 0.4, "wall_s": 6.0},
        {"step": 30, "sec_per_step": 0.3, "wall_s": 9.0}]))
    assert train_step_time(tmp_path) == {"sec_per_step": 0.3, "train_wall_s": 9.0}
    out = efficiency(G, nn.Linear(2, 1), 2, tmp_path)
    assert out["d_params"] == 3 and out["samples_per_s"] > 0 and out["peak_memory_bytes"] > 10 ** 6
    assert out["peak_memory_kind"] == "rss" or torch.cuda.is_available()
