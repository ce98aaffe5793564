"""The report from a small golden results.json (seconds, no training), its schema refusing damaged
files, and `advtrojan reproduce` end to end once, at a tiny size and in L2: every stage records and
crafts with the run's one budget, the stages resume, and results.json holds no long arrays."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from advtrojan.attacks import pgd
from advtrojan.cli.main import main
from advtrojan.experiments.reproduce import ReproduceSettings, reproduce
from advtrojan.presets import ReproducePreset
from advtrojan.report.build import build_report
from advtrojan.attacks import Budget
from advtrojan.results import BudgetSweep, CertRow, MethodCurves, ResultsError, load_results
from advtrojan.runtime import Runtime
from golden import write_golden

SIZES = ReproducePreset(train="quick", eval_limit=200, pool=150, nc_images=200, nc_epochs=2, anc_images=20,
                        anc_epochs=1, certify_images=50, sweep_images=20, feature_images=16,
                        certify_sigmas=(0.5,), sweep_iterations=(1, 5, 20), collapse_images=20)
L2 = dict(epochs=1, limit=1000, steps=5, eps=1.5, step_size=0.5, norm="l2")
RUNTIME = Runtime(progress=False, data_dir="/usr/share/datasets/fashion-mnist")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def golden_root(tmp_path_factory):
    root = write_golden(tmp_path_factory.mktemp("golden"))
    build_report(root)
    return root


@pytest.fixture(scope="module")
def l2(tmp_path_factory, fmnist):
    """A tiny reproduce whose runs train and attack in L2; every perturbation crafted is recorded."""
    root = tmp_path_factory.mktemp("l2")
    norms, real = [], pgd.perturb

    def recording(model, x, y, attack, **kw):
        out = real(model, x, y, attack, **kw)
        d = (out - x).flatten(1)
        norms.append((attack.norm, d.norm(dim=1).max().item(), d.abs().max().item()))
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pgd, "perturb", recording)
        reproduce(ReproduceSettings(out=str(root), sizes=SIZES, train_overrides=L2), RUNTIME)
    return root, norms


def test_reproduce_in_l2_records_and_crafts_l2_in_every_stage(l2):
    root, norms = l2
    res = load_results(root)
    budgets = [res.meta.budget, res.scan.budget, res.figure7.budget, res.figure9.budget,
               *(e.budget for e in res.evaluations.values())]
    assert all(b.norm == "l2" and b.eps == 1.5 and b.step_size == 0.5 for b in budgets)
    # the perturbations themselves: inside the L2 ball of radius 1.5, and far outside the L∞ one of 1.5
    # would allow (an L∞ attack of ε 1.5 moves most pixels by ~1, an L2 norm of ~20 on 28x28 images)
    assert len(norms) > 50 and {n for n, _, _ in norms} == {"l2"}
    assert max(l2 for _, l2, _ in norms) <= 1.5 + 1e-4
    assert max(l2 for _, l2, _ in norms) > 1.0  # and the attacks used their budget


def test_results_json_follows_the_schema_and_holds_no_long_array(l2):
    root, _ = l2
    data = json.loads((root / "results.json").read_text())
    assert data["schema"] == "advtrojan.results/3" and data["arrays"] == "results.arrays.safetensors"

    def longest(x):
        if isinstance(x, dict):
            return max((longest(v) for v in x.values()), default=0)
        if isinstance(x, list):
            return max([len(x)] + [longest(v) for v in x])
        return 0
    assert longest(data) <= 16  # a table row: 10 classes, 11 sweep points; arrays live in the array file
    res = load_results(root)
    assert set(res.evaluations) == {"vanilla", "madry", "atim", "atim_scratch"}
    assert res.figure7.iterations == [1, 5, 20] and len(res.figure9.eps) == 11 and res.figure9.eps[0] == 0
    assert res.figure9.eps[-1] == pytest.approx(res.meta.budget.eps)
    assert set(res.figure9.methods) == {"fgsm", "bim", "madry"}
    # at ε = 0 every method leaves the inputs as they are: the same accuracy for all three
    assert len({c.without_trigger[0] for c in res.figure9.methods.values()}) == 1
    f6 = res.figure6["atim"]
    assert f6.intensities == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and set(f6.layers) == {"conv", "dense"}
    assert f6.layers["dense"].size == 1000 and f6.layers["conv"].cosine_mean[0] == pytest.approx(0, abs=1e-6)
    assert f6.layers["conv"].difference_maps.shape == (6, 56, 56)  # from the array file
    rows = res.certification.models["atim"]["advtrojan"]
    assert {(r.method, r.confidence) for r in rows} == {("li", 0.999), ("li-code", 0.95), ("cohen", 0.999),
                                                        ("li-code", 0.05)}
    for r in rows:
        assert r.certified_correct <= r.certified_count <= r.examples == 50
        assert r.robust_accuracy == pytest.approx(r.certified_correct / r.examples)
    strip = res.scan["strip"].data
    assert strip.superimpose == "add" and strip.threshold_method == "normal" and len(strip.entropy_clean) == 150
    assert res.scan["neural_cleanse"].data.masks.shape == (10, 28, 28)
    assert set(res.meta.wall_time_s) >= {"train_atim", "train_atim_scratch", "defenses", "certification", "features"}
    for name in ("figure4", "figure5", "figure6", "figure6_dense", "figure7", "figure8", "figure9", "certification"):
        assert (root / "figures" / f"{name}.png").stat().st_size > 1000
        assert (root / "figures" / f"{name}.svg").is_file()
    assert (root / "tables" / "table5.csv").read_text().startswith("examples,ours,paper")
    assert (root / "tables" / "figure9.csv").read_text().startswith("method,eps,without_trigger,advtrojan")


def test_an_interrupted_reproduce_resumes_without_redoing_stages(l2, capsys):
    root, _ = l2
    (root / "stages" / "features.json").unlink()  # as if stopped before the last stage
    weights = {p: p.stat().st_mtime_ns for p in (root / "runs").glob("*/model.safetensors")}
    reproduce(ReproduceSettings(out=str(root), sizes=SIZES, train_overrides=L2),
              Runtime(progress=True, data_dir=RUNTIME.data_dir))
    out = capsys.readouterr().out
    assert out.count("done earlier, reused") == 12 and "[13/13] features:" in out
    assert len(weights) == 4  # nothing retrained: the four models' weights are untouched
    assert all(p.stat().st_mtime_ns == t for p, t in weights.items())


def test_a_damaged_or_partial_results_file_is_one_error_naming_what_is_missing(golden_root, tmp_path):
    data = json.loads((golden_root / "results.json").read_text())
    shutil.copy(golden_root / data["arrays"], tmp_path / data["arrays"])
    for section, cut in (("figure7", lambda d: d.pop("figure7")),
                         ("evaluations.atim.accuracy", lambda d: d["evaluations"]["atim"].pop("accuracy")),
                         ("scan.defenses.strip.data.fnr", lambda d: d["scan"]["defenses"]["strip"]["data"].pop("fnr"))):
        broken = json.loads(json.dumps(data))
        cut(broken)
        (tmp_path / "results.json").write_text(json.dumps(broken))
        with pytest.raises(ResultsError, match=re.escape(f"missing {section}")):
            build_report(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({**data, "schema": "advtrojan.results/2"}))
    with pytest.raises(ResultsError, match="schema 'advtrojan.results/2', this advtrojan reads advtrojan.results/3"):
        build_report(tmp_path)
    (tmp_path / data["arrays"]).unlink()
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="array file results.arrays.safetensors is missing"):
        build_report(tmp_path)


def test_a_model_at_chance_gets_no_verdict_in_the_report(tmp_path):
    root = write_golden(tmp_path, at_chance=True)
    page = build_report(root).read_text()
    assert "No verdict on a model that learned nothing" in page and "ATIM (fine-tuned) (10.00% on clean" in page
    assert page.count("No verdict: the ATIM is at chance") == 4  # Tables 2-4 and Figure 5
    assert "does NOT hold" not in page and "not judged" in page


def test_report_header_reads_as_prose(golden_root):
    results = golden_root
    page = (results / "report.html").read_text()
    assert "{'" not in page and "'}" not in page  # no Python dicts
    assert "Vanilla 1,000" in page and "torch " in page and "docs/protocol.md" in page
    # the protocol document travels with the report, and the report links to it
    assert 'href="protocol.md"' in page and (results / "protocol.md").read_text().startswith("#")
    assert "setting gives the paper" in page  # which certification setting matches Table 5, or none
    # the protocol section names each crafting model's training attack (Table 1's PGD or the fast preset's)
    assert page.count("training attack madry (20 steps of α = 0.1ε)") == 2
    assert "training attack n-fgsm (1 step of α = 1ε, noise 2ε, not projected)" in page


def test_figure9_claim_is_checked_part_by_part():
    """Figure 9's claim on hand-built curves: every part holds, then each one broken alone."""
    from advtrojan.report.checks import figure9_parts
    eps = [0.0, 0.1, 0.2, 0.3]

    def sweep(fgsm=(0.9, 0.4, 0.3, 0.5), bim=(0.9, 0.3, 0.1, 0.0), clean=(0.8, 0.75, 0.7, 0.65)):
        return BudgetSweep(eps, Budget(0.3, 0.03, 2), 4, {
            "fgsm": MethodCurves(list(clean), list(fgsm)), "bim": MethodCurves(list(clean), list(bim)),
            "madry": MethodCurves(list(clean), list(bim))})

    assert all(figure9_parts(sweep(), 0.05).values())  # ε = 0 (trigger alone, 0.9 > 0.8) is left out
    assert not figure9_parts(sweep(fgsm=(0.9, 0.4, 0.3, 0.2)), 0.05)["FGSM U-shaped"]  # monotone
    assert not figure9_parts(sweep(bim=(0.9, 0.8, 0.1, 0.0)), 0.05)["below at every size"]
    assert not figure9_parts(sweep(fgsm=(0.9, 0.4, 0.3, 0.62)), 0.05)["far below at the full budget"]
    broken = sweep()
    broken.methods["madry"] = MethodCurves(list(broken.methods["madry"].without_trigger), [0.9, 0.3, 0.3, 0.2])
    assert not figure9_parts(broken, 0.05)["BIM and Madry agree"]


def test_which_certification_setting_explains_zero_of_zero():
    """A setting that cannot certify B at its σ (every noisy copy agreeing is not enough) is named
    as 0 of 0 by construction; one with certified inputs by their counts."""
    from advtrojan.defenses.certify import best_radius
    from advtrojan.report.build import _which_certification
    assert best_radius(0.25, "li", 0.999) < 0.4 < best_radius(0.5, "li", 0.999)
    rows = [CertRow(0.25, "li", 0.999, 0, 0.0, 0, 0, 100, 0.0, 0.5), CertRow(0.5, "li", 0.999, 0, 0.01, 1, 100, 100,
                                                                             0.01, 0.5),
            CertRow(0.5, "cohen", 0.999, 0, 0.5, 5, 10, 100, 0.05, 0.5)]
    text = _which_certification(rows, 0.0, 0.05, 0.4, 100, "ATIM", 10)
    assert "2 of 3 settings; 1 with certified inputs" in text
    assert "σ 0.25, li at 0.999: 0 of 0" in text and "below B = 0.4, whatever the model" in text
    assert "1 of 100 certified AdvTrojan examples correct" in text and "cohen" not in text


def test_report_is_rebuilt_from_results_json_alone(golden_root, tmp_path):
    for name in ("results.json", "results.arrays.safetensors"):
        shutil.copy(golden_root / name, tmp_path / name)
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Table 5" in page and "Figure 6" in page and page.count("data:image/png;base64,") >= 12
    assert "http://" not in page and "https://" not in page  # self-contained
    assert main(["report", str(tmp_path / "nothing")]) == 2


def _chromium(*args, timeout=120):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--user-data-dir=" + str(args[0])]
    return subprocess.run([CHROMIUM, *flags, *args[1:]], capture_output=True, text=True, timeout=timeout)


def test_report_renders_in_a_real_browser(golden_root, tmp_path):
    url = (golden_root / "report.html").resolve().as_uri()
    dom = _chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", url).stdout
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    rendered = int(re.search(r'data-images-rendered="(\d+)"', dom).group(1))
    assert total >= 12 and rendered == total
    assert dom.count("<table") >= 8
    shot = tmp_path / "report.png"
    _chromium(tmp_path / "profile2", "--window-size=1100,3000", f"--screenshot={shot}", url)
    from PIL import Image
    img = Image.open(shot).convert("L")
    colours = img.getcolors(maxcolors=1 << 20)
    assert img.size == (1100, 3000) and len(colours) > 50  # figures, not a blank page
    dark = sum(n for n, v in colours if v < 128)
    assert dark > 0.005 * img.size[0] * img.size[1]
