"""--shard K/N covers every case exactly once, in balanced parts; gradcheck merge rebuilds the serial report."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck.cases import load_cases
from gradcheck.cli import main
from gradcheck.run.runner import RunOptions, reported_methods
from gradcheck.run.shards import parse_shard, predicted_cost, shard

REPO = Path(__file__).resolve().parents[2]


def test_the_parts_cover_every_case_exactly_once_and_balance_the_cost():
    cases = load_cases([REPO / "cases"])
    count = lambda case: len(reported_methods(case, RunOptions()))  # noqa: E731
    for parts in (1, 2, 3, 5):
        split = [shard(cases, part, parts, count) for part in range(1, parts + 1)]
        names = [case.name for part in split for case in part]
        assert sorted(names) == sorted(case.name for case in cases) and len(names) == len(set(names))
        loads = [sum(predicted_cost(case, count(case)) for case in part) for part in split]
        biggest = max(predicted_cost(case, count(case)) for case in cases)
        assert max(loads) - min(loads) <= biggest  # greedy dealing: no part exceeds another by more than one case
        for part in split:  # each part keeps suite order
            order = [cases.index(case) for case in part]
            assert order == sorted(order)


def test_shard_syntax_is_checked():
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="K/N"):
            parse_shard(bad)
    result = CliRunner().invoke(main, ["run", str(REPO / "cases/seeds.yaml"), "--shard", "3/2"])
    assert result.exit_code == 2 and "K/N" in result.output


def test_merging_the_shards_gives_the_serial_report_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    runner = CliRunner()
    common = ["run", "cases/ops", "--method", "numeric", "--method", "vjp"]
    assert runner.invoke(main, [*common, "--json", str(tmp_path / "all.json")]).exit_code == 0
    for part in (1, 2):
        result = runner.invoke(main, [*common, "--shard", f"{part}/2", "--json", str(tmp_path / f"{part}.json")])
        assert result.exit_code == 0, result.output
    merged = runner.invoke(main, ["merge", str(tmp_path / "merged.json"), str(tmp_path / "2.json"),
                                  str(tmp_path / "1.json")])
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "merged.json").read_bytes() == (tmp_path / "all.json").read_bytes()
    again = runner.invoke(main, ["merge", str(tmp_path / "twice.json"), str(tmp_path / "1.json"),
                                 str(tmp_path / "1.json")])
    assert again.exit_code == 2 and "also in" in again.output
