"""Yaguchi et al. 2018, Table II (and Chao et al. 2020, Tables 4-6): accuracy and sparsity.

Per run, its last epoch: train and test accuracy, the fraction of exact zeros and the fraction
of units with zero incoming weights (fractions in the JSON, percent in the table).

    python analysis_scripts/yaguchi2018_table2_accuracy_sparsity.py RUN [RUN ...] [--json]
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
                     "group_sparsity": last["group_sparsity"]["global"]})
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'run':<32}{'epoch':>6}{'train acc %':>12}{'test acc %':>11}{'zeros %':>9}"
              f"{'zero units %':>14}")
        for r in rows:
            print(f"{r['run']:<32}{r['epoch']:>6}{100 * r['train_acc']:>12.2f}"
                  f"{100 * r['test_acc']:>11.2f}{100 * r['sparsity']:>9.2f}"
                  f"{100 * r['group_sparsity']:>14.2f}")
