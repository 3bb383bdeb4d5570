"""seed 000 Table II (and seed 004 Tables 4-6): accuracy and sparsity per run, last epoch.

    python analysis_scripts/seed000_table2_accuracy_sparsity.py RUN [RUN ...] [--json]
"""

import json

from _common import check_runs, label, metrics, parser

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    check_runs(p, args.runs)
    rows = []
    for run in args.runs:
        last = metrics(run)[-1]
        rows.append({"run": label(run), "epoch": last["epoch"], "train_acc": last["train_acc"],
                     "test_acc": last["test_acc"], "sparsity": last["sparsity"]["global"],
                     "unit_sparsity": last["group_sparsity"]["global"]})
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'run':<32}{'epoch':>6}{'train acc':>10}{'test acc':>10}{'zeros %':>9}"
              f"{'zero units %':>14}")
        for r in rows:
            print(f"{r['run']:<32}{r['epoch']:>6}{r['train_acc']:>10.4f}{r['test_acc']:>10.4f}"
                  f"{100 * r['sparsity']:>9.2f}{100 * r['unit_sparsity']:>14.2f}")
