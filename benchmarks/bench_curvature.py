"""Curvature benchmark: HVP cost against a gradient, and top-k eigenpairs against peers.

One process, one model / data / point per case for every contender: the mnist5k training
split (4,000 samples, or a fixed subset) in batches of 1,000, at the seeded initialisation
after two seeded SGD epochs. Every figure is meant to be reproduced on one pinned core with
one thread, exactly as printed above each table:

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_curvature.py \\
        --peers /tmp/peers               # the MLP at N=1000 and 4000, 3 runs: ~3 minutes
    ... --cases cnn2000 --peers /tmp/peers   # the conv net with BatchNorm: ~45 minutes
    ... --quick                          # MLP at N=1000, one run: under a minute

``make bench`` runs the default (peers only when importable). Peers are not dependencies;
install them outside the venv: ``pip install --no-deps --target /tmp/peers pyhessian
curvlinops-for-pytorch hessian-eigenthings backpack-for-pytorch einops einconv
linear_operator opt-einsum``. A missing peer is skipped with the reason printed.

Each contender is run ``--runs`` times, except peers slower than twice the fastest solve
on their first run (once; the table says how many runs). Eigensolvers are judged alike: each
returned pair's residual ``||H v - lambda v||`` is recomputed with our exact operator (not
timed) and the pair counts as converged when it is at most ``tol * |lambda|``. Operators are
built outside the timings (ours runs a determinism probe there; curvlinops too); a solve's
time includes everything after, our cache of gradient graphs included. "In products" is the
time inside each library's own product function (wrapped with a timer on the same clock),
"rest" everything else. Peers run at their best settings: hessian-eigenthings with full
reorthogonalisation at the smallest number of Lanczos steps (searched first, in fives, not
timed) that converges all pairs; curvlinops' operator with SciPy's ``eigsh`` (ARPACK,
``tol`` = ours); PyHessian's power iteration (``maxIter`` 100, ``tol`` = ours; its converged
count reported; on the conv net only with ``--pyhessian-cnn``, as 100 iterations per pair
take hours there).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _problems import build, train_point  # the script's folder is sys.path[0]
from torch import nn

from landscape.curvature import HessianOperator, block_lanczos, lanczos
from landscape.data import EvalSet, get_dataset

CASES = {"mlp4000": ("mlp", 4000), "mlp1000": ("mlp", 1000), "cnn2000": ("cnn", 2000)}
DEFAULT_CASES = ["mlp1000", "mlp4000"]  # the conv net (minutes per solve) only when asked
OURS = "ours: lanczos, verified by one block product (the default)"
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


# ----------------------------------------------------------------------------- the problems
def problem(case: str, epochs: int) -> tuple[nn.Module, EvalSet]:
    name, n = CASES[case]
    full = get_dataset("mnist5k")
    data = EvalSet(full, "train", batch_size=1000, subset=n if n < 4000 else None)
    model = build(name)
    train_point(model, data, epochs)
    return model, data


def plain_gradient(model: nn.Module, data: EvalSet) -> Callable[[], None]:
    """The gradient a user computes: the model as given, autograd over the batches."""
    params = [p for p in model.parameters() if p.requires_grad]

    def run() -> None:
        for x, y in data:
            torch.autograd.grad(F.cross_entropy(model(x), y) * (len(y) / data.num_samples),
                                params)

    return run


# ----------------------------------------------------------------------------- timing
def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of a list (just the value when there is one)."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratios(fn: Callable[[], object], base: Callable[[], object], runs: int) -> list[float]:
    """``time(fn) / time(base)``, one per run, the two timed back to back after a warm-up."""
    fn(), base()
    out = []
    for _ in range(runs):
        t0 = clock()
        base()
        t1 = clock()
        fn()
        t2 = clock()
        out.append((t2 - t1) / (t1 - t0))
    return out


def command(args: list[str]) -> str:
    """The command that reproduces this run (the peers' folder spelled out when it came from
    ``$LANDSCAPE_BENCH_PEERS``)."""
    peers = os.environ.get("LANDSCAPE_BENCH_PEERS")
    if peers and "--peers" not in args:
        args = [*args, "--peers", peers]
    return ("taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_curvature.py "
            + " ".join(shlex.quote(a) for a in args))


# ----------------------------------------------------------------------------- HVP costs
def hvp_table(model: nn.Module, data: EvalSet, runs: int) -> list[tuple[str, list[float]]]:
    base = plain_gradient(model, data)
    v = torch.randn(sum(p.numel() for p in model.parameters()), 1,
                    generator=torch.Generator().manual_seed(0))
    block = torch.randn(v.shape[0], 10, generator=torch.Generator().manual_seed(1))
    rows: list[tuple[str, list[float]]] = []
    ours = HessianOperator(model, data, method="reverse", check_deterministic=False)
    rows.append(("our gradient (the rewritten network)", ratios(ours.loss_and_gradient, base,
                                                                runs)))
    for rewrite in (True, False):
        note = "" if rewrite else ", model as given"
        fresh = HessianOperator(model, data, method="reverse", rewrite=rewrite,
                                check_deterministic=False)
        rows.append((f"HVP fresh (double backward{note})", ratios(lambda o=fresh: o @ v, base,
                                                                  runs)))
        cached = HessianOperator(model, data, rewrite=rewrite, check_deterministic=False)
        rows.append((f"HVP cached, first product (builds graphs{note})",
                     ratios(lambda o=cached: (o.release_cache(), o @ v), base, runs)))
        cached @ v
        rows.append((f"HVP cached, marginal{note}", ratios(lambda o=cached: o @ v, base, runs)))
        if not rewrite:
            break
        fwd = HessianOperator(model, data, method="forward", check_deterministic=False)
        rows.append(("HVP forward-over-reverse (torch.func, fresh)",
                     ratios(lambda o=fwd: o @ v, base, runs)))
        for mode in ("loop", "vmap"):
            cached.block = mode
            per = [r / 10 for r in ratios(lambda o=cached: o @ block, base, runs)]
            rows.append((f"block of 10, cached, {mode}, per vector", per))
        cached.block = "loop"
    return rows


# ----------------------------------------------------------------------------- eigensolvers
class Timed:
    """Wrap a product function: count vectors and accumulate seconds."""

    def __init__(self, fn: Callable, width: Callable[[object], int] = lambda v: 1) -> None:
        self.fn, self.width, self.count, self.seconds = fn, width, 0, 0.0

    def __call__(self, *a, **kw):
        t0 = clock()
        out = self.fn(*a, **kw)
        self.seconds += clock() - t0
        self.count += self.width(a[0]) if a else 1
        return out


def check(op: HessianOperator, values: torch.Tensor, vectors: torch.Tensor, tol: float) -> int:
    """Pairs with ``||H v - lambda v|| <= tol |lambda|`` by our operator (rows ``[k, P]``)."""
    counted = op.num_products
    vectors = (vectors / vectors.norm(dim=1, keepdim=True)).to(op.dtype)
    values = values.to(op.dtype)
    resid = (op.matmat_rows(vectors) - values[:, None] * vectors).norm(dim=1)
    op.num_products = counted
    return int((resid <= tol * values.abs()).sum())


def run_ours(model, data, k, tol, block_size=1, verify=True, reorth="partial"):
    op = HessianOperator(model, data, block="vmap" if block_size > 1 else "auto")
    timed = Timed(op.matmat_rows, lambda rows: rows.shape[0])  # the same clock as the solve
    op.matmat_rows = timed
    t0 = clock()
    res = (lanczos(op, k, tol=tol, verify=verify, reorth=reorth) if block_size == 1
           else block_lanczos(op, k, block_size=block_size, tol=tol))
    sec = clock() - t0
    return sec, res.num_products, timed.seconds, res.eigenvalues, res.eigenvectors.T


def run_eigenthings(model, batches, k, tol, steps):
    import hessian_eigenthings as he

    hop = he.HessianOperator(model, batches, he.supervised_loss(F.cross_entropy))
    timed = Timed(hop.matvec)
    hop.matvec = timed
    model.eval()
    t0 = clock()
    r = he.lanczos(hop, k=k, max_iter=steps, which="LA", reorthogonalize=True, seed=0, tol=tol)
    sec = clock() - t0
    return sec, timed.count, timed.seconds, r.eigenvalues, r.eigenvectors


def run_curvlinops(model, batches, k, tol):
    import curvlinops
    from scipy.sparse.linalg import eigsh

    params = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    sop = curvlinops.HessianLinearOperator(model, nn.CrossEntropyLoss(), params,
                                           batches).to_scipy()
    mv, mm = Timed(sop._matvec), Timed(sop._matmat, lambda m: m.shape[1])
    sop._matvec, sop._matmat = mv, mm
    t0 = clock()
    vals, vecs = eigsh(sop, k=k, which="LA", tol=tol)
    sec = clock() - t0
    order = vals.argsort()[::-1].copy()
    return (sec, mv.count + mm.count, mv.seconds + mm.seconds,
            torch.from_numpy(vals[order]), torch.from_numpy(vecs[:, order].T.copy()))


def run_pyhessian(model, batches, k, tol):
    from pyhessian import hessian as pyh

    model.eval()
    h = pyh(model, nn.CrossEntropyLoss(), dataloader=batches, cuda=False)
    timed = Timed(h.dataloader_hv_product)
    h.dataloader_hv_product = timed
    t0 = clock()
    vals, vecs = h.eigenvalues(maxIter=100, tol=tol, top_n=k)
    sec = clock() - t0
    vecs = torch.stack([torch.cat([t.reshape(-1) for t in v]) for v in vecs])
    vals = torch.tensor(vals)
    order = vals.argsort(descending=True)
    return sec, timed.count, timed.seconds, vals[order], vecs[order]


def eigenthings_steps(model, batches, k, tol, checker, first, limit=150) -> int | None:
    """The fewest Lanczos steps (in fives) at which every pair converges (not timed).

    The search starts ten below ``first`` (the steps our Lanczos took, without its
    verification): a Krylov space that small cannot converge every pair, and each try
    costs a full solve.
    """
    for steps in range(max(k, 5 * ((first - 10) // 5)), limit + 1, 5):
        _, _, _, vals, vecs = run_eigenthings(model, batches, k, tol, steps)
        if check(checker, vals, vecs, tol) == k:
            return steps
    return None


def eigen_table(model, data, k, tol, peers, runs, with_pyhessian, block):
    batches = list(data)
    checker = HessianOperator(model, data, check_deterministic=False)
    contenders: dict[str, Callable] = {OURS: lambda: run_ours(model, data, k, tol)}
    first = contenders[OURS]()[1] - k
    contenders["ours: verify='sketch' (3 products confirm the estimates)"] = lambda: run_ours(
        model, data, k, tol, verify="sketch")
    contenders["ours: reorth='full' (a Gram-Schmidt pass per step)"] = lambda: run_ours(
        model, data, k, tol, reorth="full")
    if block > 1:
        contenders[f"ours: block Lanczos, b={block}, vmap"] = lambda: run_ours(
            model, data, k, tol, block)
    notes = []
    if "hessian_eigenthings" in peers:
        steps = eigenthings_steps(model, batches, k, tol, checker, first)
        if steps is None:
            notes.append("hessian-eigenthings did not converge all pairs within 150 steps")
        else:
            contenders[f"hessian-eigenthings, reorth., {steps} steps"] = (
                lambda s=steps: run_eigenthings(model, batches, k, tol, s))
    if "curvlinops" in peers:
        contenders["curvlinops + scipy eigsh (ARPACK)"] = lambda: run_curvlinops(
            model, batches, k, tol)
    if "pyhessian" in peers and with_pyhessian:
        contenders["PyHessian (power iteration, maxIter 100)"] = lambda: run_pyhessian(
            model, batches, k, tol)
    rows = {}
    got_all = {name: [fn()] for name, fn in contenders.items()}
    fastest = min(g[0][0] for g in got_all.values())
    for name, fn in contenders.items():  # repeat all but peers far slower than the fastest
        if name.startswith("ours") or got_all[name][0][0] <= 2 * fastest:
            got_all[name] += [fn() for _ in range(runs - 1)]
    for name, got in got_all.items():
        rows[name] = {
            "seconds": [g[0] for g in got], "hvps": [g[1] for g in got],
            "products": [g[2] for g in got], "rest": [g[0] - g[2] for g in got],
            "converged": [check(checker, g[3], g[4], tol) for g in got],
            "top": [round(float(x), 4) for x in got[0][3][:3]],
        }
    return rows, notes


def print_eigen(rows: dict, k: int) -> None:
    peers = [r for n, r in rows.items() if not n.startswith("ours")
             and min(r["converged"]) == k]
    fastest = min((statistics.median(r["seconds"]) for r in peers), default=None)
    print("| contender | runs | seconds | HVPs | converged | in products | rest | rest share | "
          "fastest peer / this |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        sec = statistics.median(r["seconds"])
        share = statistics.median([a / b for a, b in zip(r["rest"], r["seconds"])])
        speed = f"{fastest / sec:.2f}x" if fastest else "-"
        print(f"| {name} | {len(r['seconds'])} | {spread(r['seconds'])} | "
              f"{spread(r['hvps'], '{:.0f}')} | "
              f"{min(r['converged'])}/{k} | {spread(r['products'])} | {spread(r['rest'])} | "
              f"{share:.0%} | {speed} |")


# ----------------------------------------------------------------------------- main
def main() -> None:
    global clock
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=DEFAULT_CASES,
                        help="problems (default: the MLP at N=1000 and N=4000; cnn2000, the "
                        "conv net with BatchNorm, takes minutes per solve)")
    parser.add_argument("--peers", default=os.environ.get("LANDSCAPE_BENCH_PEERS"),
                        help="folder with the peer packages (added to sys.path; default "
                        "$LANDSCAPE_BENCH_PEERS, where `make bench` installs them)")
    parser.add_argument("--skip", nargs="*", default=[], help="peer modules to leave out")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (spread reported)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pin the core "
                        "with taskset)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall (the figures) or cpu (process time, for a shared machine)")
    parser.add_argument("--train-epochs", type=int, default=2, help="SGD epochs to the point")
    parser.add_argument("--block", type=int, default=0,
                        help="add a block Lanczos row with this block size (vmap products)")
    parser.add_argument("--pyhessian-cnn", action="store_true",
                        help="run PyHessian on the conv net too (hours at 100 iterations)")
    parser.add_argument("--quick", action="store_true",
                        help="MLP at N=1000, one run, no PyHessian: under a minute")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.runs, args.block = ["mlp1000"], 1, 0
        args.skip = [*args.skip, "pyhessian"]
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    if args.peers:
        sys.path.insert(0, args.peers)
    peers = set()
    for mod in ("hessian_eigenthings", "curvlinops", "pyhessian"):
        if mod in args.skip:
            continue
        try:
            __import__(mod)
            peers.add(mod)
        except ImportError as exc:
            print(f"skipping peer {mod}: {exc} (install it and pass --peers DIR)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"# {command(sys.argv[1:])}")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), {cores} core(s) "
          f"allowed, clock {args.clock}; peers: {', '.join(sorted(peers)) or 'none'}")
    if cores != 1 or torch.get_num_threads() != 1:
        print("# WARNING: not one pinned core with one thread: figures are not comparable")
    results: dict[str, dict] = {}
    for case in args.cases:
        model, data = problem(case, args.train_epochs)
        params = sum(p.numel() for p in model.parameters())
        print(f"\n## {case}: {params:,} parameters, N = {data.num_samples}, batches of 1,000\n")
        print(f"`{command(sys.argv[1:])}`\n")
        hvp = hvp_table(model, data, max(args.runs, 3))
        base = plain_gradient(model, data)
        base()
        t0 = clock()
        base()
        grad_sec = clock() - t0
        print(f"HVP / full-dataset gradient (the plain gradient: {grad_sec * 1e3:.0f} ms; "
              f"median (min-max) of {max(args.runs, 3)} back-to-back pairs)\n")
        print("| product | / plain gradient |\n|---|---|")
        for name, vals in hvp:
            print(f"| {name} | {spread(vals)}x |")
        rows, notes = eigen_table(model, data, args.k, args.tol, peers, args.runs,
                                  case.startswith("mlp") or args.pyhessian_cnn, args.block)
        print(f"\nTop-{args.k}, every residual <= {args.tol:g} |lambda| "
              "(median (min-max) over the runs)\n")
        print_eigen(rows, args.k)
        for note in notes:
            print(f"\n{note}")
        print(f"\ntop eigenvalues (ours): {rows[OURS]['top']}",
              flush=True)
        results[case] = {"hvp": dict(hvp), "eigen": rows, "gradient_seconds": grad_sec}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command(sys.argv[1:]), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
