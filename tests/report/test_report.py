"""landscape report: one self-contained page from cached results only (tiny demo preset)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

import landscape.experiment.curvature as curvature_analysis
import landscape.experiment.curves as curve_results
import landscape.experiment.features as features_mod
import landscape.verify.evidence as evidence_mod
from landscape.cli import main
from landscape.report import build_report, gather_experiment, train_command
from landscape.report.blocks import Content, Section
from landscape.report.evidence import cached_evidence
from landscape.report.sections import SECTIONS, register, sections
from landscape.verify import Thresholds

# every computation of the suite's analyses: the report must reach none of them
COMPUTATIONS = [(evidence_mod, "fit_curve_run"), (curvature_analysis, "lanczos"),
                (curvature_analysis, "slq_density"), (curve_results, "evaluate_along"),
                (curve_results, "run_grid"), (features_mod, "iter_feature_batches")]


def _forbid(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the report must be built from the store alone")

    import landscape.train as train_mod

    for module, name in [*COMPUTATIONS, (train_mod, "train")]:
        monkeypatch.setattr(module, name, forbidden)


class Page(HTMLParser):
    """Tags, ids, links and resources of a page (the standard library's parser)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.ids, self.links, self.resources = [], set(), [], []
        self.scripts, self.text, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        for key in ("src", "href", "data", "poster", "srcset"):
            if key in a and tag != "a":
                self.resources.append((tag, a[key]))
        if tag == "script":
            self.scripts.append(a)
            self._in = "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = None

    def handle_data(self, data):
        if self._in is None:
            self.text.append(data)


def _parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def built(tiny_demo, tmp_path_factory):
    """The tiny demo's report built by the command with every computation forbidden."""
    root, _ = tiny_demo
    out = tmp_path_factory.mktemp("report") / "page.html"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        _forbid(mp)
        code = main(["report", str(root / "out"), "--out", str(out), "--json"])
    assert code == 0
    return root, json.loads(printed.getvalue()), out, out.read_text(encoding="utf-8")


def test_the_report_renders_from_the_store_alone_and_parses(built):
    _, summary, out, html = built
    assert summary["report"] == str(out) and summary["bytes"] == out.stat().st_size
    page = _parse(html)
    for section in ("overview", "runs", "training", "curvature", "connectivity",
                    "projection", "features", "tradeoff", "verdict", "provenance"):
        assert section in page.ids, section
    # every in-page link (numbers -> provenance rows, runs, figures) has its target
    assert page.links and not sorted(set(page.links) - page.ids)
    assert page.tags.count("figure") >= 8 and page.tags.count("img") >= 5
    # the page states where it comes from
    text = " ".join(page.text)
    assert "landscape 0.1.0" in text and "torch " in text and "UTC" in text and "cpu" in text


def test_the_report_makes_no_network_request(built):
    _, _, _, html = built
    page = _parse(html)
    external = [(tag, url) for tag, url in page.resources
                if not url.startswith(("data:", "#"))]
    assert external == []
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # plotly.js's own text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.I)
    assert any(s.get("type") == "application/json" for s in page.scripts)  # Plotly figures
    assert "Plotly.newPlot" in html and html.count("<script>") == 2  # plotly.js once + init


def test_every_figure_has_a_caption_citing_its_paper(built):
    _, _, _, html = built
    figures = re.findall(r"<figure.*?</figure>", html, re.S)
    captions = [re.search(r"<figcaption>(.*?)</figcaption>", f, re.S) for f in figures]
    assert figures and all(captions)
    uncited = [c.group(1)[:80] for c in captions
               if not re.search(r"[A-Z][a-z]+( et al\.| & [A-Z][a-z]+)? (19|20)\d\d", c.group(1))]
    assert uncited == []


def _check_provenance(html: str, experiment: Path, monkeypatch, capsys) -> set[str]:
    """Run every provenance command of the page (computing forbidden); the analyses seen."""
    exp = gather_experiment(experiment)
    rows = re.findall(r'<tr id="entry-([0-9a-f]{16})">.*?<td><code>([^<]*)</code></td></tr>',
                      html, re.S)
    keys = {e.key[:16]: e for e in exp.entries}
    assert rows and {k for k, _ in rows} <= set(keys)
    cited = set(re.findall(r'href="#entry-([0-9a-f]{16})" title="store key ([0-9a-f]{64})', html))
    assert cited and all(full.startswith(short) for short, full in cited)
    _forbid(monkeypatch)
    for short, command in rows:
        words = shlex.split(command.replace("&#39;", "'").replace("&quot;", '"'))
        assert words[0] == "landscape" and words[1] != "cache", command
        try:
            assert main([*words[1:], "--json"]) == 0, command
        except AssertionError as exc:  # computing anything raises
            raise AssertionError(f"{command}: {exc}") from exc
        out = json.loads(capsys.readouterr().out)
        if "key" in out:
            assert out["key"] == keys[short].key, command
    return {keys[k].name for k, _ in rows}


def test_every_number_names_its_store_key_and_the_command_that_answers_it(built, monkeypatch,
                                                                           capsys):
    """The provenance commands ask the same questions: they answer from the store."""
    root, _, _, html = built
    seen = _check_provenance(html, root / "out", monkeypatch, capsys)
    assert seen >= {"hessian.topk", "hessian.spectrum", "curves.along", "curves.plane",
                    "projection.epoch", "features", "surface.grid"}


def test_sharpness_and_curvature_along_curves_are_reported(tiny_demo, tmp_path, monkeypatch,
                                                           capsys):
    """Their entries get figures, and the commands rebuilt for them answer from the store."""
    root, _ = tiny_demo
    exp = tmp_path / "out"
    shutil.copytree(root / "out", exp)
    assert main(["sharpness", str(exp / "sgd"), "--top-k", "3", "--trace-probes", "4",
                 "--json"]) == 0
    assert main(["curve", "hessian", str(exp / "curve_sgd__grda_c0.05_mu0.6"), "--points",
                 "3", "--top-k", "2", "--trace-probes", "2", "--json"]) == 0
    capsys.readouterr()
    html = build_report(exp).html
    section = re.search(r'<section id="sharpness">.*?</section>', html, re.S).group(0)
    assert "Hessian trace per epoch" in section and "Gradient share in the top-k" in section
    assert "Top Hessian eigenvalue from sgd (t = 0) to grda_c0.05_mu0.6" in section
    seen = _check_provenance(html, exp, monkeypatch, capsys)
    assert {"hessian.trace", "hessian.gradient", "curves.hessian"} <= seen


def test_the_verdict_is_verifys_on_the_same_evidence(tiny_demo):
    root, result = tiny_demo
    exp = gather_experiment(root / "out")
    for sgd, grda, base in exp.pairs():
        mu = grda.name.split("mu")[-1]
        ev = cached_evidence(exp, sgd, grda, base, thresholds=Thresholds())
        # exact: the same floats read from the same entries, the same judge
        assert ev.verdict == result["reports"][mu]["verdict"]
        assert ev.report["projection"]["share"] == result["reports"][mu]["projection"]["share"]


def _copy(result, dest: Path, names: dict[str, str]) -> Path:
    dest.mkdir()
    for label, new in names.items():
        shutil.copytree(result["runs"][label], dest / new)
    return dest


def test_html_in_a_run_name_shows_as_text(tiny_demo, tmp_path, monkeypatch):
    """Run folders named like markup, with the demo's store: names reach tables and figures."""
    root, result = tiny_demo
    evil = "<img src=x onerror=alert(1)>"
    exp = _copy(result, tmp_path / "exp", {"sgd": "<script>alert(1)", "grda_mu0.6": evil})
    _forbid(monkeypatch)
    title = "</script><script>alert(1)</script>"
    report = build_report(exp, store=root / "out" / "store", title=title)
    html = report.html
    assert "<script>alert(1)" not in html and evil not in html
    assert "&lt;script&gt;alert(1)" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # inside the figures' JSON too (Jinja's tojson escapes < > &)
    assert "\\u003cscript\\u003ealert(1)" in html
    page = _parse(html)
    assert "x" not in [url for tag, url in page.resources if tag == "img"]
    assert html.count("<script") == html.count("</script>") == 2 + sum(
        1 for s in page.scripts if s.get("type") == "application/json")


def test_a_missing_analysis_is_listed_with_the_command_that_computes_it(tiny_demo, tmp_path,
                                                                        capsys):
    root, _ = tiny_demo
    exp = tmp_path / "out"
    shutil.copytree(root / "out", exp)
    report = build_report(exp)
    wanted = [m for _, m in report.missing if m.what.startswith("feature statistics of sgd_seed1")]
    assert len(wanted) == 1 and wanted[0].command == f"landscape features {exp / 'sgd_seed1'}"
    assert wanted[0].command in report.html
    assert main(shlex.split(wanted[0].command) [1:]) == 0  # it computes the missing entry
    capsys.readouterr()
    again = build_report(exp)
    assert not [m for _, m in again.missing if m.what.startswith("feature statistics of sgd_seed1")]
    assert "sgd_seed1" in re.search(r'id="features".*?</section>', again.html, re.S).group(0)


def test_an_experiment_without_a_store_lists_every_analysis_as_missing(tiny_demo, tmp_path):
    _, result = tiny_demo
    exp = _copy(result, tmp_path / "exp", {"sgd": "sgd", "grda_mu0.6": "grda_c0.05_mu0.6"})
    report = build_report(exp)
    commands = [m.command for _, m in report.missing]
    assert f"landscape verify {exp / 'sgd'} {exp / 'grda_c0.05_mu0.6'}" in commands
    assert f"landscape spectrum {exp / 'sgd'}" in commands
    assert "Missing analyses" in report.html and report.entries == []


def test_the_train_command_trains_the_same_run(tiny_demo):
    from landscape.cli import build_parser
    from landscape.commands.train import build_configs

    root, result = tiny_demo
    for label in ("sgd", "grda_mu0.6"):
        run = next(r for r in gather_experiment(root / "out").runs
                   if str(r.path) == result["runs"][label])
        line = train_command(run)
        args = build_parser().parse_args(shlex.split(line.split("  #")[0])[1:])
        [(name, cfg)] = build_configs(args)
        assert name == run.name and Path(args.out) == run.path.parent
        for key, value in cfg.__dict__.items():
            if key in run.config and key != "device":
                assert run.config[key] == (list(value) if isinstance(value, tuple) else value), key


def test_a_section_is_one_registered_function(tiny_demo):
    root, _ = tiny_demo
    section = Section("extra", "An extra section", lambda ctx: Content(intro="extra <b>"))
    try:
        register(section)
        assert sections()[-1] is section
        with pytest.raises(ValueError, match="id 'extra' is registered already"):
            register(Section("extra", "again", lambda ctx: None))
        html = build_report(root / "out").html
        assert 'id="extra"' in html and "extra &lt;b&gt;" in html
    finally:
        SECTIONS.pop("extra", None)


def test_bad_experiment_paths_are_refused_clearly(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no run directory" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("x")
    assert main(["report", str(tmp_path / "file.txt")]) == 2
    assert "is a file" in capsys.readouterr().err
