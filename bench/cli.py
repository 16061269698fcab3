"""The ``bench`` command line. Logic lives in the package; this module only parses and calls."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.protocols import SCALES


def _print(msg: str) -> None:
    print(msg, flush=True)


def _model_opts(items: list[str]) -> dict:
    from bench.config import parse_set

    return {k.removeprefix("model.options."): v for k, v in parse_set(items).items()}


# ---------------------------------------------------------------------------------------------
def cmd_list(args) -> int:
    what = args.what
    if what in ("models", "all"):
        from bench.registry import get_entry, list_models
        _print("models:")
        for name in list_models():
            e = get_entry(name)
            params = ", ".join(f"{k}: {v:,}" for k, v in e.params.items())
            _print(f"  {name:16s} {e.citation}" + (f"  [params {params}]" if params else ""))
    if what in ("protocols", "all"):
        from bench.protocols import list_protocols, load_protocol
        _print("protocols:")
        for name in list_protocols():
            _print(f"  {name:34s} {load_protocol(name).title}")
    if what in ("datasets", "all"):
        from bench.data import list_datasets
        _print("datasets:")
        for name, doc in sorted(list_datasets().items()):
            _print(f"  {name:10s} {doc}")
    return 0


def _experiment_from_args(args) -> dict:
    from bench.config import parse_set, resolve, validate_partial

    partial = {"model.name": args.model}
    if args.data:
        partial["data.dataset"] = args.data
    if args.source:
        partial["data.source"] = args.source
    if args.epochs:
        partial["train.epochs"] = args.epochs
    if getattr(args, "device", None):
        partial["train.device"] = args.device
    if args.seed is not None:
        partial["seed"] = args.seed
    sets = parse_set(args.set)
    validate_partial(sets, "--set")
    return resolve(partial, sets, where="command line")


def cmd_train(args) -> int:
    from bench.cells import execute

    if args.ddp or args.nproc is not None or args.backend is not None:
        return _train_ddp(args)
    from bench.engine import distributed
    if distributed.under_torchrun():
        raise BenchError("started by torchrun: add --ddp to train one experiment over its processes")
    cfg = _experiment_from_args(args)
    ckpt = args.checkpoint or str(args.results / "checkpoints" / f"{cfg['model']['name']}.pt")
    device = "" if cfg["train"]["device"] == "cpu" else f", train.device={cfg['train']['device']}"
    _print(f"training {cfg['model']['name']} {cfg['model']['options']} on {cfg['data']['dataset']} "
           f"({cfg['data']['source']} 2D), {cfg['train']['epochs']} epochs, seed {cfg['seed']}{device}")
    rec = execute(cfg, runs_dir=args.runs_dir, progress=sys.stderr.isatty(), log=_print,
                  tb_dir=str(args.results / "tb"), checkpoint=ckpt)
    _print(_format_metrics(rec["metrics"][""]))
    _print(f"record: {Path(args.runs_dir) / 'adhoc' / 'adhoc' / (rec['id'] + '.json')}; checkpoint: {ckpt}")
    return 0


def _check_before_launch(cfg: dict) -> None:
    """What a worker would reject, checked before torchrun starts (its failure report is long): the
    planner's preflight (model on the meta device, the recipe, the data split and the model's joints
    against the dataset); profile runs time the model in one process."""
    from bench.errors import ConfigError
    from bench.planning import preflight

    if cfg["run"]["kind"] == "profile":
        raise ConfigError("run.kind=profile times the model in one process: drop --ddp")
    preflight(cfg, data=True)


def _train_ddp(args) -> int:
    """``bench train --ddp``: outside torchrun, check everything and start ``--nproc`` copies of this
    command under torchrun; inside it (started by us or by the user's own ``torchrun -m bench.cli``), join
    the process group and train (bench/engine/distributed.py). Only rank 0 prints."""
    import os

    from bench.config import parse_set
    from bench.engine import distributed
    from bench.engine.device import training_device
    from bench.errors import ConfigError

    if not args.ddp:
        raise ConfigError("--nproc and --backend go with --ddp (bench train MODEL --ddp --nproc N)")
    if args.nproc is not None and args.nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}")
    cfg = _experiment_from_args(args)
    asked = parse_set(args.set).get("train.processes")  # valid: checked by _experiment_from_args
    inside = distributed.under_torchrun()
    if inside:
        nproc = distributed.world()[1]
        if args.nproc is not None and args.nproc != nproc:
            raise ConfigError(f"--nproc {args.nproc} but torchrun started {nproc} processes")
    else:
        nproc = args.nproc or asked or 2
    if asked is not None and asked != nproc:
        raise ConfigError(f"train.processes={asked} but the run has {nproc} processes (--nproc {nproc}); "
                          f"leave train.processes out, --ddp sets it")
    cfg["train"]["processes"] = nproc
    local = int(os.environ.get("LOCAL_WORLD_SIZE", nproc))
    training_device(cfg["train"]["device"])  # a missing GPU is the first thing to say
    backend = distributed.resolve_backend(args.backend or "auto", cfg["train"]["device"], local)
    if not inside:
        _check_before_launch(cfg)
        argv = ["train", args.model]
        for flag, value in (("--data", args.data), ("--source", args.source), ("--epochs", args.epochs),
                            ("--seed", args.seed), ("--checkpoint", args.checkpoint),
                            ("--device", args.device)):
            if value is not None:
                argv += [flag, str(value)]
        for item in args.set:
            argv += ["--set", item]
        # no --nproc: torchrun would take it for an abbreviation of its own --nproc-per-node (the
        # workers read the count from torchrun's environment)
        argv += ["--results", str(args.results), "--runs-dir", args.runs_dir, "--ddp", "--backend", backend]
        return distributed.launch(argv, nproc)

    import torch

    from bench.engine.experiment import run_experiment
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    rank = distributed.world()[0]
    say = _print if rank == 0 else None
    ckpt = args.checkpoint or str(args.results / "checkpoints" / f"{cfg['model']['name']}.pt")
    distributed.init(backend)
    try:
        if say:
            say(f"training {cfg['model']['name']} {cfg['model']['options']} on {cfg['data']['dataset']} "
                f"({cfg['data']['source']} 2D), {cfg['train']['epochs']} epochs, seed {cfg['seed']}, "
                f"{nproc} processes ({backend}, torch threads per process: {torch.get_num_threads()})")
        rec = run_experiment(cfg, runs_dir=args.runs_dir, progress=rank == 0 and sys.stderr.isatty(),
                             log=say, tb_dir=str(args.results / "tb"), checkpoint=ckpt)
    finally:
        distributed.shutdown()
    if say:
        say(_format_metrics(rec["metrics"][""]))
        say(f"record: {Path(args.runs_dir) / 'adhoc' / 'adhoc' / (rec['id'] + '.json')}; checkpoint: {ckpt}")
    return 0


def _format_metrics(m: dict) -> str:
    from bench.report.tables import METRIC_NAMES
    parts = [f"{METRIC_NAMES.get(k, k)} {v:.2f}" for k, v in m.items() if isinstance(v, float)]
    return "; ".join(parts)


def cmd_eval(args) -> int:
    from bench.config import parse_set, resolve
    from bench.errors import ConfigError
    from bench.engine.checkpoint import load_checkpoint
    from bench.engine.evaluate import evaluate_sequences, reference_levels
    from bench.engine.data import check_model_fits, get_dataset, split_sequences

    model, saved = load_checkpoint(args.checkpoint)
    partial = {}
    if args.data:
        partial["data.dataset"] = args.data
    if args.source:
        partial["data.source"] = args.source
    sets = parse_set(args.set)
    if any(k.startswith("model.") for k in sets):
        # a model change would silently evaluate other weights: refuse it loudly
        load_checkpoint(args.checkpoint, expected_model=resolve(saved, sets, where="--set")["model"])
    cfg = resolve(saved, partial, sets, where="command line")
    ds = get_dataset(cfg["data"])
    try:
        check_model_fits(model, ds)
    except ConfigError as e:
        raise ConfigError(f"{args.checkpoint}: {e}") from None
    train, _, test = split_sequences(ds, cfg["data"])
    m = evaluate_sequences(model, test, cfg, ds.keypoints_layout, ds.skeleton)
    # the run record's reference levels: constant predictions on the same test frames
    m["reference"] = reference_levels(train, test, cfg)
    if args.json:
        _print(json.dumps(m, indent=1))
    else:
        _print(f"{cfg['model']['name']} on {ds.name} ({ds.source} 2D, {m['frames']} frames): "
               + _format_metrics(m))
        _print("reference: training mean pose " + _format_metrics(m["reference"]["mean_pose"])
               + " | zero pose " + _format_metrics(m["reference"]["zero_pose"]))
    return 0


def cmd_ablate(args) -> int:
    from bench.sweep import run_sweep

    res = run_sweep(args.protocol, scale=args.scale, seeds=args.seeds, overrides=_sweep_overrides(args),
                    jobs=args.jobs, runs_dir=Path(args.runs_dir), tables_dir=args.results / "tables",
                    plots_dir=args.results / "plots", tb_dir=str(args.results / "tb"),
                    formats=tuple(args.format),
                    log=_print, progress=sys.stderr.isatty(), launcher=args.launcher,
                    address=args.address, cpus_per_cell=args.cpus_per_cell)
    _print(f"[{args.protocol}] {res.ran} run(s) trained, {res.skipped} skipped, {res.seconds:.0f} s")
    for p in res.outputs:
        _print(f"  wrote {p}")
    if "md" in args.format:
        md = next((p for p in res.outputs if p.suffix == ".md"), None)
        if md is not None:
            _print(md.read_text())
    return 0


def _sweep_overrides(args) -> dict:
    """--set items plus --data (sugar for data.dataset) of bench ablate / bench table."""
    from bench.config import parse_set

    overrides = parse_set(args.set)
    if getattr(args, "data", None):
        overrides["data.dataset"] = args.data
    return overrides


def cmd_table(args) -> int:
    from bench.planning import plan
    from bench.protocols import list_protocols, load_protocol
    from bench.records import load_records
    from bench.report.render import write_index
    from bench.sweep import write_protocol_outputs

    names = list_protocols() if args.protocol == "all" else [args.protocol]
    overrides = _sweep_overrides(args)
    entries = []
    tables_dir, plots_dir = args.results / "tables", args.results / "plots"
    for name in names:
        protocol = load_protocol(name)
        records = load_records(args.runs_dir, name, args.scale, skip_corrupt=_print)
        jobs = plan(protocol, args.scale, overrides=overrides, runs_dir=Path(args.runs_dir))
        if not records and jobs and args.protocol == "all":
            continue  # planned but never run here; a scale that runs no cell still gets its table
        # (every cell "full scale only", with the paper's numbers)
        table, outs = write_protocol_outputs(protocol, records, args.scale, jobs, tables_dir,
                                             None if args.no_plots else plots_dir, tuple(args.format))
        entries.append((table, protocol))
        for p in outs:
            _print(f"wrote {p}")
        if args.protocol != "all" and "md" in args.format:
            _print((tables_dir / f"{table.stem}.md").read_text())
    if args.protocol == "all":
        from bench.report.readme import write_results_readme
        # every table on disk (its .stats.json), not only the protocols that have records now
        idx = write_index(tables_dir)
        _print(f"wrote {idx}")
        _print(f"wrote {write_results_readme(args.results)}")
    return 0


def _profile_training(args) -> int:
    """``bench profile MODEL --train``: training throughput of one experiment (bench/train_profile.py).
    ``--set`` takes model options (``channels=32``) and dotted config keys (``train.batch_size=256``)."""
    from bench.config import SCHEMA, parse_set, resolve
    from bench.train_profile import format_training_profile, profile_training

    partial = {"model.name": args.model, "train.batch_size": args.batch}
    for key, value in parse_set(args.set).items():
        dotted = key if key in SCHEMA or key.startswith("model.options.") else f"model.options.{key}"
        partial[dotted] = value
    cfg = resolve(partial, where="--set")
    res = profile_training(cfg, steps=args.steps, warmup=args.warmup, device=args.device,
                           threads=args.threads)
    _print(json.dumps(res, indent=1, default=str) if args.json else format_training_profile(res))
    if args.out:
        from bench.records import write_json_atomic
        write_json_atomic(args.out, res)
    return 0


def cmd_cost(args) -> int:
    from bench.cost import estimate, measured_times
    from bench.protocols import list_protocols

    names = list_protocols() if args.protocol == "all" else [args.protocol]
    times = measured_times(Path(args.runs_dir))
    total, priced = 0.0, set()  # a job several protocols plan is trained, and priced, once
    for name in names:
        cost = estimate(name, args.scale, Path(args.runs_dir), times, priced)
        total += cost.seconds
        _print(cost.line())
    if len(names) > 1:
        _print(f"total @ {args.scale}: {total / 3600:.2f} CPU h of measured jobs (see bench/cost.py)")
    return 0


def cmd_profile(args) -> int:
    from bench.profiling import format_profile, profile_model

    if args.train:
        if args.optimize != "none":
            from bench.errors import ConfigError
            raise ConfigError("--optimize applies to inference latency; drop it with --train")
        return _profile_training(args)
    res = profile_model(args.model, _model_opts(args.set), device=args.device, batch_size=args.batch,
                        repeats=args.repeats, warmup=args.warmup, threads=args.threads,
                        trace_dir=args.trace, deterministic=args.deterministic, optimize=args.optimize)
    if args.eval_frames:
        from bench.profiling import eval_memory
        res["eval_memory"] = eval_memory(args.model, _model_opts(args.set), args.eval_frames,
                                         threads=args.threads or 1)
    if args.json:
        _print(json.dumps(res, indent=1, default=str))
    else:
        _print(format_profile(res))
        if args.eval_frames:
            from bench.profiling import format_eval_memory
            _print(format_eval_memory(res["eval_memory"]))
    if args.out:
        from bench.records import write_json_atomic
        write_json_atomic(args.out, res)
    return 0


def cmd_check(args) -> int:
    from bench.golden import run_check

    ok = run_check(models=args.models or None, update=args.update, log=_print)
    return 0 if ok else 1


def cmd_data(args) -> int:
    if args.data_cmd == "build-standin":
        from bench.data.standin_build.build import build_standin
        summary = build_standin(out_dir=args.out, sources=args.sources, log=_print)
        _print(json.dumps(summary, indent=1, default=str))
    elif args.data_cmd == "verify-standin":
        from bench.data.standin_build.build import verify_standin
        ok, bad = verify_standin(args.folder) if args.folder else verify_standin()
        _print("stand-in rebuild matches the committed files bit for bit" if ok
               else f"stand-in rebuild differs: {', '.join(bad)}")
        return 0 if ok else 1
    elif args.data_cmd == "check":
        from bench.data.check import check_data_folder, format_report
        problems = check_data_folder(args.path)
        _print(format_report(problems))
        return 1 if problems else 0
    elif args.data_cmd == "info":
        from bench.data import load_dataset
        ds = load_dataset(args.spec, source=args.source)
        _print(f"{ds.name} ({ds.source} 2D) at {ds.path}: {ds.fps:g} fps, "
               f"{ds.keypoints_layout.num_joints} -> {ds.skeleton.num_joints} joints")
        for s in ds.subjects():
            role = "train" if s in ds.train_subjects else "test" if s in ds.test_subjects else "-"
            _print(f"  {s:12s} {role:5s} {len(ds.actions(s)):3d} sequences x {ds.num_cameras(s)} cameras, "
                   f"{ds.num_frames([s]):7d} frames")
        _print(f"  action groups: {', '.join(ds.action_groups())}")
    return 0


# ---------------------------------------------------------------------------------------------
def _results_options(s: argparse.ArgumentParser) -> None:
    """--results and --runs-dir of the commands that write results (train, ablate, table)."""
    s.add_argument("--results", metavar="RESULTS",
                   help="results root: run records, TensorBoard events, checkpoints, tables, plots (default: "
                        "$BENCH_RESULTS, else the checkout's results/, else ./results; see bench/paths.py)")
    s.add_argument("--runs-dir", help="run records (default RESULTS/runs)")


def _resolve_results(args) -> None:
    """The results root, resolved once (bench.paths.results_root: --results > $BENCH_RESULTS > the
    checkout's results/ > ./results) and made absolute; --runs-dir defaults to its runs/."""
    from bench.paths import results_root

    if hasattr(args, "results"):
        args.results = results_root(args.results)
        if not args.runs_dir:
            args.runs_dir = str(args.results / "runs")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Reference harness for 2D->3D pose lifting.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="list models, protocols or datasets")
    s.add_argument("what", nargs="?", default="all", choices=["all", "models", "protocols", "datasets"])
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("train", help="train one model and evaluate it")
    s.add_argument("model")
    s.add_argument("--data", help="dataset spec NAME or NAME:PATH (default standin)")
    s.add_argument("--source", help="2D source (gt, det, cpn_ft_h36m_dbb, ...)")
    s.add_argument("--epochs", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, e.g. model.options.receptive_field=27 or train.lr=5e-4")
    s.add_argument("--checkpoint", help="where to save the weights (default RESULTS/checkpoints/MODEL.pt)")
    _results_options(s)
    s.add_argument("--ddp", action="store_true",
                   help="train this one experiment data-parallel over several processes (torchrun; "
                        "sets train.processes, so the record is a separate one)")
    s.add_argument("--nproc", type=int, help="processes of --ddp (default 2); under your own torchrun "
                                              "leave it out (torchrun reads --nproc as its --nproc-per-node)")
    s.add_argument("--device", help="train.device: cpu (default, the reference), cuda, cuda:N or auto")
    s.add_argument("--backend", choices=["auto", "gloo", "nccl"],
                   help="--ddp communication backend (auto: nccl when training on CUDA with a GPU per "
                        "process, else gloo)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("eval", help="evaluate a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--data")
    s.add_argument("--source")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="eval fields, e.g. eval.noise_sigma=10 or eval.flip=false")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_eval)

    data_help = ("dataset NAME:PATH for every cell (= --set data.dataset=...); a real Human3.6M folder "
                 "(h36m:DIR) replaces the bundled stand-in, e.g. --data h36m:/data/h36m")
    s = sub.add_parser("ablate", help="run a protocol sweep (resumable)")
    s.add_argument("protocol")
    s.add_argument("--scale", default="quick", choices=list(SCALES))
    s.add_argument("--data", help=data_help)
    s.add_argument("--seeds", type=int)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--jobs", type=int, default=1,
                   help="cells at once on this machine (threads split among them)")
    s.add_argument("--launcher", default="local", choices=["local", "ray"],
                   help="local: this process or a process pool (default); ray: Ray tasks")
    s.add_argument("--address", metavar="HOST:PORT",
                   help="with --launcher ray: an existing Ray cluster (default: start a local instance)")
    s.add_argument("--cpus-per-cell", type=int, metavar="N",
                   help="with --launcher ray: CPUs (= torch threads) per cell (default: cores // --jobs)")
    s.add_argument("--format", action="append", choices=["md", "latex", "csv"], default=None)
    _results_options(s)
    s.set_defaults(fn=cmd_ablate)

    s = sub.add_parser("table", help="(re)write tables from run records")
    s.add_argument("protocol", help="protocol name or 'all'")
    s.add_argument("--scale", default="quick", choices=list(SCALES))
    s.add_argument("--data", help="the --data the sweep was given (the table takes that sweep's records)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="the --set the sweep was given (the table takes that sweep's records)")
    s.add_argument("--format", action="append", choices=["md", "latex", "csv"], default=None)
    _results_options(s)
    s.add_argument("--no-plots", action="store_true")
    s.set_defaults(fn=cmd_table)

    s = sub.add_parser("cost", help="estimate a sweep's CPU hours from the run records of the same recipes")
    s.add_argument("protocol", help="protocol name or 'all'")
    s.add_argument("--scale", default="full", choices=list(SCALES))
    _results_options(s)
    s.set_defaults(fn=cmd_cost)

    s = sub.add_parser("profile", help="parameters, FLOPs, latency and throughput of a model")
    s.add_argument("model")
    s.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                   help="model option, e.g. receptive_field=27 (with --train also any config key, "
                        "e.g. train.loss=mse or data.source=det)")
    s.add_argument("--train", action="store_true",
                   help="training throughput instead of inference latency: windows/s, ms per step split "
                        "into batch/forward/backward/optimizer, aten ops, FLOPs against a matmul peak")
    s.add_argument("--steps", type=int, default=20, help="--train: timed training steps (median reported)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--batch", type=int, default=64, help="windows per batch (with --train: train.batch_size)")
    s.add_argument("--repeats", type=int, default=10)
    s.add_argument("--warmup", type=int, default=3)
    s.add_argument("--threads", type=int)
    s.add_argument("--trace", metavar="DIR", help="write a torch.profiler trace for TensorBoard")
    s.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=False,
                   help="time with deterministic algorithms and cuDNN on (default: off, PyTorch's defaults)")
    s.add_argument("--optimize", default="none", metavar="MODE",
                   help="none | fuse_bn (BatchNorms folded into the layers before them, outputs verified) | "
                        "compile (fuse_bn, then torch.compile with inductor; compile time not timed): time "
                        "that model and, side by side in the same run, the model as is")
    s.add_argument("--eval-frames", type=int, action="append", metavar="N",
                   help="also measure the peak memory of evaluating an N-frame sequence (repeatable; one "
                        "fresh process per N)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--out", help="also write the JSON result to this file")
    s.set_defaults(fn=cmd_profile)

    s = sub.add_parser("check", help="CI regression check against results/golden")
    s.add_argument("models", nargs="*")
    s.add_argument("--update", action="store_true", help="rewrite the golden values")
    s.set_defaults(fn=cmd_check)

    s = sub.add_parser("data", help="build, verify, inspect or validate data")
    dsub = s.add_subparsers(dest="data_cmd", required=True, metavar="ACTION")
    d = dsub.add_parser("build-standin", help="rebuild the bundled stand-in from the raw packages")
    d.add_argument("--out")
    d.add_argument("--sources")
    d = dsub.add_parser("verify-standin", help="rebuild in a temp folder and compare checksums")
    d.add_argument("--folder")
    d = dsub.add_parser("check", help="validate a data folder and list every problem")
    d.add_argument("path")
    d = dsub.add_parser("info", help="summarise a dataset")
    d.add_argument("spec", nargs="?", default="standin")
    d.add_argument("--source", default="gt")
    s.set_defaults(fn=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "format", "unset") is None:
        args.format = ["md"]
    _resolve_results(args)
    try:
        return args.fn(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to continue",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
