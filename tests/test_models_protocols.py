"""The cross-model protocols: models.compare and models.size_vs_error share their runs; models.latency
times every registered model; the noise protocols cover the papers' columns."""
import pytest

from bench.protocols import load_protocol
from bench.registry import list_models
from bench.sweep import plan


@pytest.mark.parametrize("scale", ["smoke", "quick", "full", "paper"])
def test_size_vs_error_plans_exactly_the_runs_of_compare(scale, tmp_path):
    # Same job ids = the same experiments: the second sweep copies the first one's records, never retrains.
    compare = {j.id for j in plan(load_protocol("models.compare"), scale, runs_dir=tmp_path)}
    size = {j.id for j in plan(load_protocol("models.size_vs_error"), scale, runs_dir=tmp_path)}
    # quick: the headline cells (Martinez, SemGCN with and without non-local, Hossain) x 3 seeds
    assert compare == size and len(compare) == {"smoke": 10, "quick": 12, "full": 30, "paper": 30}[scale]


@pytest.mark.parametrize("name", ["models.compare", "models.latency"])
def test_every_registered_model_is_in_the_cross_model_protocols(name, tmp_path):
    jobs = plan(load_protocol(name), "full", runs_dir=tmp_path)
    assert {j.cfg["model"]["name"] for j in jobs} == set(list_models())


def test_latency_profiles_paper_widths_at_quick_scale(tmp_path):
    jobs = plan(load_protocol("models.latency"), "quick", runs_dir=tmp_path)
    assert all(j.cfg["run"]["kind"] == "profile" for j in jobs)
    by_model = {j.cfg["model"]["name"]: j.cfg["model"]["options"] for j in jobs}
    assert by_model["videopose3d"]["channels"] == by_model["attention_tcn"]["channels"] == 1024
    assert by_model["dgnet"]["channels"] == 128 and by_model["hossain"]["hidden_size"] == 1024
    assert by_model["edm"]["hidden_sizes"] == (1024, 1024, 1024)


@pytest.mark.parametrize("name, models", [
    ("dgnet.noise", {"edm", "martinez", "hossain", "dgnet"}),
    ("attention_tcn.noise", {"martinez", "hossain", "videopose3d", "attention_tcn"}),
])
def test_noise_protocols_evaluate_every_model_at_every_sigma(name, models, tmp_path):
    jobs = plan(load_protocol(name), "full", runs_dir=tmp_path)
    assert {j.cfg["model"]["name"] for j in jobs} == models
    for j in jobs:
        assert [v["eval.noise_sigma"] for v in j.variants] == [0, 5, 10, 15, 20]
        assert j.cfg["data"]["source"] == "gt"  # trained on clean GT 2D; noise only at test time
