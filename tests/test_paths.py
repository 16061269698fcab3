"""The results root (bench/paths.py): --results > $BENCH_RESULTS > the checkout's results/ > ./results,
resolved once to an absolute folder; the committed reference folders do not move with it."""
from pathlib import Path

from bench import paths
from bench.cli import _resolve_results, build_parser


def test_option_beats_env_beats_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "from_env"))
    assert paths.results_root(tmp_path / "from_option") == tmp_path / "from_option"
    assert paths.results_root() == tmp_path / "from_env"
    monkeypatch.setenv(paths.ENV_VAR, "rel")  # relative: against the working directory, made absolute
    assert paths.results_root() == tmp_path / "rel"
    monkeypatch.delenv(paths.ENV_VAR)
    assert paths.results_root() == paths.PACKAGE_PARENT / "results"  # tests run from the checkout
    monkeypatch.setenv(paths.ENV_VAR, "")  # empty counts as unset
    assert paths.results_root() == paths.PACKAGE_PARENT / "results"


def test_outside_a_checkout_the_default_is_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "PACKAGE_PARENT", tmp_path / "site-packages")  # an installed wheel
    assert paths.checkout_root() is None
    assert paths.results_root() == tmp_path / "results"


def test_cli_resolves_the_root_once_and_runs_dir_under_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env"))
    args = build_parser().parse_args(["table", "dgnet.k", "--results", "opt"])
    _resolve_results(args)
    assert args.results == tmp_path / "opt" and args.runs_dir == str(tmp_path / "opt" / "runs")
    args = build_parser().parse_args(["ablate", "dgnet.k", "--runs-dir", "elsewhere"])
    _resolve_results(args)
    assert args.results == tmp_path / "env" and args.runs_dir == "elsewhere"
    args = build_parser().parse_args(["list"])  # commands that write no results have no root
    _resolve_results(args)
    assert not hasattr(args, "results")


def test_reference_folders_stay_in_the_source_tree(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path))
    from bench.golden import GOLDEN_DIR
    assert paths.reference_dir("golden") == GOLDEN_DIR == paths.PACKAGE_PARENT / "results" / "golden"
    assert (GOLDEN_DIR / "martinez.yaml").is_file()
    assert Path(paths.reference_dir("reported")).is_dir()
