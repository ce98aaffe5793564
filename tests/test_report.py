"""`advtrojan reproduce` end to end at a tiny size, the report rebuilt from results.json alone,
resumable stages, and the report rendered in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from advtrojan.cli.main import main
from advtrojan.experiments.reproduce import reproduce
from advtrojan.presets import ReproducePreset

pytestmark = pytest.mark.slow

SIZES = ReproducePreset(train="quick", eval_limit=200, pool=150, nc_images=200, nc_epochs=2, anc_images=20,
                        anc_epochs=1, certify_images=50, sweep_images=20, feature_images=16,
                        certify_sigmas=(0.5,), sweep_iterations=(1, 5, 20))
TINY = dict(epochs=1, limit=1000, steps=5, step_size=0.05)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def results(tmp_path_factory, fmnist):
    root = tmp_path_factory.mktemp("results")
    reproduce("fmnist", "quick", root, sizes=SIZES, train_overrides=TINY, progress=False,
              data_dir="/usr/share/datasets/fashion-mnist")
    return root


def test_results_json_follows_the_schema(results):
    res = json.loads((results / "results.json").read_text())
    assert res["schema"] == "advtrojan.results/2"
    models = {"vanilla", "madry", "atim", "atim_scratch"}
    assert set(res["figure4"]) == models and set(res["table5_both"]) == {"atim", "atim_scratch"}
    assert set(res["table5"]) == {"benign", "madry", "advtrojan", "advtrojan_certified", "transferred_advtrojan"}
    correct, certified = res["table5_counts"]["advtrojan_certified"]
    assert 0 <= correct <= certified <= res["table5_counts"]["examples"]
    assert res["figure7"]["iterations"] == [1, 5, 20]
    assert len(res["figure8"]["eps"]) == 11 and res["figure8"]["eps"][0] == 0
    # Figure 9: a sweep over the perturbation size, three methods, without and with the trigger
    f9 = res["figure9"]
    assert len(f9["eps"]) == 11 and f9["eps"][0] == 0 and f9["eps"][-1] == pytest.approx(res["meta"]["budget"]["eps"])
    assert set(f9["methods"]) == {"fgsm", "bim", "madry"}
    for curves in f9["methods"].values():
        assert len(curves["without_trigger"]) == len(curves["advtrojan"]) == 11
        assert all(0 <= v <= 1 for v in curves["without_trigger"] + curves["advtrojan"])
    # at ε = 0 every method leaves the inputs as they are: the same accuracy for all three
    assert len({c["without_trigger"][0] for c in f9["methods"].values()}) == 1
    assert f9["methods"]["madry"]["advtrojan"] == res["figure8"]["advtrojan"]
    # Figure 6: 1 - cos for both layers of every model
    f6 = res["figure6"]["atim"]
    assert f6["intensities"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and set(f6["layers"]) == {"conv", "dense"}
    assert f6["layers"]["dense"]["size"] == 1000 and f6["layers"]["conv"]["cosine_mean"][0] == pytest.approx(0, abs=1e-6)
    # certification across sigma, with its counts, for every model
    cert = res["certification"]
    assert set(cert["models"]) == models
    rows = cert["models"]["atim"]["advtrojan"]
    assert {(r["method"], r["confidence"]) for r in rows} == {("li", 0.999), ("li-code", 0.95), ("cohen", 0.999),
                                                              ("li-code", 0.05)}
    for r in rows:
        assert r["certified_correct"] <= r["certified_count"] <= r["examples"] == 50
        assert r["robust_accuracy"] == pytest.approx(r["certified_correct"] / r["examples"])
    # STRIP as Gao et al., with the two-sided rule beside it
    strip = res["defenses"]["strip"]
    assert strip["superimpose"] == "add" and strip["threshold_method"] == "normal"
    assert set(res["table3_two_sided"]) == {"10%", "5%", "2%"}
    assert set(res["meta"]["wall_time_s"]) >= {"train_atim", "train_atim_scratch", "defenses", "certification",
                                               "features"}
    for name in ("figure4", "figure5", "figure6", "figure6_dense", "figure7", "figure8", "figure9", "certification"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000
        assert (results / "figures" / f"{name}.svg").is_file()
    assert (results / "tables" / "table5.csv").read_text().startswith("examples,ours,paper")
    assert (results / "tables" / "figure9.csv").read_text().startswith("method,eps,without_trigger,advtrojan")


def test_report_header_reads_as_prose(results):
    page = (results / "report.html").read_text()
    assert "{'" not in page and "'}" not in page  # no Python dicts
    assert "Vanilla 1,000" in page and "torch " in page and "docs/protocol.md" in page
    # the protocol document travels with the report, and the report links to it
    assert 'href="protocol.md"' in page and (results / "protocol.md").read_text().startswith("#")
    assert "setting gives the paper" in page  # which certification setting matches Table 5, or none


def test_figure9_claim_is_checked_part_by_part():
    """Figure 9's claim on hand-built curves: every part holds, then each one broken alone."""
    from advtrojan.report.checks import figure9_parts
    eps = [0.0, 0.1, 0.2, 0.3]

    def sweep(fgsm=(0.9, 0.4, 0.3, 0.5), bim=(0.9, 0.3, 0.1, 0.0), clean=(0.8, 0.75, 0.7, 0.65)):
        return {"eps": eps, "methods": {
            "fgsm": {"without_trigger": list(clean), "advtrojan": list(fgsm)},
            "bim": {"without_trigger": list(clean), "advtrojan": list(bim)},
            "madry": {"without_trigger": list(clean), "advtrojan": list(bim)}}}

    assert all(figure9_parts(sweep(), 0.05).values())  # ε = 0 (trigger alone, 0.9 > 0.8) is left out
    assert not figure9_parts(sweep(fgsm=(0.9, 0.4, 0.3, 0.2)), 0.05)["FGSM U-shaped"]  # monotone
    assert not figure9_parts(sweep(bim=(0.9, 0.8, 0.1, 0.0)), 0.05)["below at every size"]
    assert not figure9_parts(sweep(fgsm=(0.9, 0.4, 0.3, 0.62)), 0.05)["far below at the full budget"]
    broken = sweep()
    broken["methods"]["madry"]["advtrojan"] = [0.9, 0.3, 0.3, 0.2]
    assert not figure9_parts(broken, 0.05)["BIM and Madry agree"]


def test_which_certification_setting_explains_zero_of_zero():
    """A setting that cannot certify B at its σ (every noisy copy agreeing is not enough) is named
    as 0 of 0 by construction; one with certified inputs by their counts."""
    from advtrojan.defenses.certify import best_radius
    from advtrojan.report.build import _which_certification
    assert best_radius(0.25, "li", 0.999) < 0.4 < best_radius(0.5, "li", 0.999)
    rows = [{"sigma": 0.25, "method": "li", "confidence": 0.999, "certified_accuracy": 0.0, "certified_correct": 0,
             "certified_count": 0},
            {"sigma": 0.5, "method": "li", "confidence": 0.999, "certified_accuracy": 0.01, "certified_correct": 1,
             "certified_count": 100},
            {"sigma": 0.5, "method": "cohen", "confidence": 0.999, "certified_accuracy": 0.5, "certified_correct": 5,
             "certified_count": 10}]
    text = _which_certification(rows, 0.0, 0.05, 0.4, "ATIM", 10)
    assert "2 of 3 settings; 1 with certified inputs" in text
    assert "σ 0.25, li at 0.999: 0 of 0" in text and "below B = 0.4, whatever the model" in text
    assert "1 of 100 certified AdvTrojan examples correct" in text and "cohen" not in text


def test_an_interrupted_reproduce_resumes_without_redoing_stages(results, capsys):
    (results / "stages" / "features.json").unlink()  # as if stopped before the last stage
    weights = {p: p.stat().st_mtime_ns for p in (results / "runs").glob("*/model.safetensors")}
    reproduce("fmnist", "quick", results, sizes=SIZES, train_overrides=TINY, progress=True,
              data_dir="/usr/share/datasets/fashion-mnist")
    out = capsys.readouterr().out
    assert out.count("done earlier, reused") == 12 and "[13/13] features:" in out
    assert len(weights) == 4  # nothing retrained: the four models' weights are untouched
    assert all(p.stat().st_mtime_ns == t for p, t in weights.items())


def test_report_is_rebuilt_from_results_json_alone(results, tmp_path):
    (tmp_path / "results.json").write_text((results / "results.json").read_text())
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Table 5" in page and "Figure 6" in page and page.count("data:image/png;base64,") >= 12
    assert "http://" not in page and "https://" not in page  # self-contained
    assert main(["report", str(tmp_path / "nothing")]) == 2


def _chromium(*args, timeout=120):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--user-data-dir=" + str(args[0])]
    return subprocess.run([CHROMIUM, *flags, *args[1:]], capture_output=True, text=True, timeout=timeout)


def test_report_renders_in_a_real_browser(results, tmp_path):
    url = (results / "report.html").resolve().as_uri()
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
