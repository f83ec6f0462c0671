"""The HTML report: its content from real failing runs, and what headless Chromium makes of it."""

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gradcheck.cases import load_cases
from gradcheck.reports.html import to_html
from gradcheck.reports.plots import fold_to_2d
from gradcheck.run.runner import RunOptions, run_case

pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bad_rows():
    cases = load_cases([str(REPO / "tests/fixtures/bad.yaml")])
    return [row for case in cases for row in run_case(case, RunOptions(step_curves=True))]


@pytest.fixture(scope="module")
def bad_page(bad_rows):
    return to_html(bad_rows)


def _articles(page: str) -> list[str]:
    return re.findall(r'<article class="failure">.*?</article>', page, flags=re.DOTALL)


def test_every_failure_has_a_heatmap_a_curve_the_point_and_the_diagnosis(bad_page):
    articles = _articles(bad_page)
    # bad.yaml: the wrong sign (x) and the missing transpose (x and y) fail.
    assert [re.search(r"<h3>(.*?)</h3>", a).group(1) for a in articles] == [
        "wrong-sign › vjp › x › [0]", "missing-transpose › vjp › x › [0, 0]",
        "missing-transpose › vjp › y › [0, 0]"]
    for article in articles:
        assert re.search(r'<figure class="heatmap"><svg', article)
        assert re.search(r'<figure class="curve"><svg', article)
        assert "Diagnosis:</b>" in article and "a real bug" in article
    assert "x = 3, cotangent 1; got -0.04517665973, reference 0.04517665973" in articles[0]
    assert "x = 3, y = 4, cotangent 1; got 16, reference 14" in articles[1]
    assert "the gradient has the wrong sign" in articles[0]


def test_failures_come_first_and_every_row_is_folded(bad_page, bad_rows):
    assert bad_page.index('<article class="failure">') < bad_page.index("<details><summary>")
    folded = bad_page[bad_page.index("<h2>Every row</h2>"):]
    assert f"<summary>{len(bad_rows)} rows</summary>" in folded
    assert folded.count('<tr class="pass">') == 5 and folded.count('<tr class="fail">') == 3
    assert '<span class="pass">5 pass</span><span class="fail">3 fail</span>' in bad_page


def test_the_page_is_self_contained(bad_page):
    # Only XML namespace names may mention a URL: nothing is fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", bad_page))
    assert urls == {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert not re.search(r"<(link|iframe)|\bsrc=|@import|url\(http", bad_page)
    assert bad_page.count("<style>") == 1 and bad_page.count("<script>") == 1


def test_the_heatmap_folds_n_d_to_2_d_with_labelled_axes():
    assert fold_to_2d((7,)) == ((1, 7), "", "axis 0")
    assert fold_to_2d((3, 4)) == ((3, 4), "axis 0 (size 3)", "axis 1 (size 4)")
    assert fold_to_2d((2, 3, 4, 5)) == ((24, 5), "axes 0 (2) × 1 (3) × 2 (4), flattened", "axis 3 (size 5)")


def test_the_margins_behind_the_heatmap_are_the_rows_own(bad_rows):
    wrong_sign = next(c for c in bad_rows if c.case == "wrong-sign" and c.method == "vjp")
    margins = wrong_sign.detail.margins
    assert margins.shape == (3,) and np.all(margins > 1)
    assert float(margins.max()) == wrong_sign.margin and int(np.argmax(margins)) == wrong_sign.worst_index[0]
    passing = next(c for c in bad_rows if c.case == "good-sigmoid" and c.method == "vjp")
    assert passing.detail is None  # only failures carry the (costly) detail
    assert replace(wrong_sign, detail=None) == wrong_sign  # the detail never changes equality


def test_the_baseline_and_the_cross_framework_view(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from gradcheck.cli import main

    monkeypatch.chdir(REPO)
    baseline, page = tmp_path / "baseline.json", tmp_path / "swish.html"
    args = ["run", "tests/fixtures/bad_swish.yaml", "--method", "numeric", "--method", "vjp", "--method", "torch"]
    CliRunner().invoke(main, [*args, "--update-baseline", str(baseline)])
    result = CliRunner().invoke(main, [*args, "--baseline", str(baseline), "--html", str(page)])
    assert result.exit_code == 1, result.output
    text = page.read_text()
    assert "<h2>Baseline</h2>" in text and "0 regressed, 0 improved, 0 new" in text
    across = text[text.index("<h2>Across frameworks</h2>"):text.index("<h2>Every row</h2>")]
    assert re.search(r"<td>bad-swish</td><td>x</td><td class=\"pass\">[^<]*</td><td class=\"fail\">", across)
    assert "torch (margin" in across and "departs from the reference, vjp agrees with it" in across


# ---------------------------------------------------------------- in a real browser


def _chromium(page: Path, *flags: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `page`, offline: every request goes to a closed port, no name resolves."""
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", *flags, page.as_uri()],
        capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (CI installs it)")
def test_headless_chromium_renders_the_report_offline(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gradcheck.cli import main

    monkeypatch.chdir(REPO)
    page = tmp_path / "bad.html"
    result = CliRunner().invoke(main, ["run", "tests/fixtures/bad.yaml", "--html", str(page)])
    assert result.exit_code == 1 and page.exists(), result.output

    # The console check can see an error: a broken page shows one.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefined_function();</script></body></html>")
    assert any("undefined_function" in line for line in _console(_chromium(broken, "--dump-dom").stderr))

    dom = _chromium(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == []
    first = re.search(r'<article class="failure">.*?</article>', dom.stdout, flags=re.DOTALL).group(0)
    assert "wrong-sign › vjp › x › [0]" in first
    assert re.search(r'<figure class="heatmap"><svg[^>]*>.*<image', first, flags=re.DOTALL)  # the margins, drawn
    assert re.search(r'<figure class="curve"><svg[^>]*>.*<path', first, flags=re.DOTALL)

    shot = tmp_path / "bad.png"
    taken = _chromium(page, f"--screenshot={shot}", "--window-size=1000,1400", "--hide-scrollbars")
    assert shot.exists(), taken.stderr[-2000:]
    from PIL import (
        Image,  # matplotlib's own dependency: present wherever the html extra is
    )

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    ink = np.any(pixels < 200, axis=-1).mean()  # the fraction of pixels that are not (near) white
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    reds = np.mean((red > 90) & (green < red / 2) & (blue < red / 2))  # the colour map's failing end
    assert pixels.shape[:2] == (1400, 1000)
    assert ink > 0.03, ink  # text, plots: not a blank page
    assert reds > 0.005, reds  # the failing heatmap's red cells are on screen
