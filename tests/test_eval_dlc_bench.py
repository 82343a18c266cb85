"""``videocap eval dlc-bench`` end to end against a stand-in judge on 127.0.0.1: the demo DAM on a
stand-in DLC-Bench folder, resuming, bad inputs, and fidelity to NVIDIA's published DAM-3B scores."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from dlc_stand_in import bench_from_cache, make_bench
from judge_server import NOT_JSON, StandInJudge

from videocap.cli import main
from videocap.dam import DamModel
from videocap.resources import DEMO_DAM

CACHE = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "dam-reference" / "refsrc" / "evaluation" / \
    "model_outputs_cache"
DAM_3B_SUMMARY = "Summary (Pos\tNeg\tAvg(Pos, Neg)):\t0.510,\t0.830,\t0.670"


def polite_judge(prompt: str) -> str:
    """Yes to recognition, and the first choice otherwise (it names the part but not its colour: 0)."""
    return "A. Yes" if "Is it likely that" in prompt else "A"


def run(*args: str) -> int:
    return main(["eval", "dlc-bench", *args])


def dam_run(bench: Path, judge: StandInJudge, out: Path, *extra: str) -> int:
    return run("--data", str(bench), "--dam", str(DEMO_DAM), "--device", "cpu", "--judge-url", judge.url,
               "--judge-workers", "2", "--judge-retries", "0", "--out", str(out), *extra)


@pytest.fixture
def bench(tmp_path) -> Path:
    return make_bench(tmp_path / "DLC-Bench")


@pytest.fixture(scope="module")
def reference_cache() -> Path:
    if not (CACHE / "dam_3b_v1_eval.json").is_file():
        pytest.skip(f"{CACHE} is missing: the fidelity check needs the read-only ../shared folder beside the repo")
    return CACHE


def test_demo_dam_end_to_end_then_rerun_asks_nothing(bench, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    with StandInJudge(polite_judge) as judge:
        assert dam_run(bench, judge, out) == 0
        assert judge.requests == 3 + 2 + 3  # each region's recognition question and its own questions
        first = capsys.readouterr().out
        captions = json.loads((out / "shapes-dam.json").read_text())
        assert set(captions) == {"11", "12", "21", "query"}
        assert captions["query"] == "<image>\nDescribe the masked region in detail."
        monkeypatch.setattr(DamModel, "from_pretrained", _no_dam)
        assert dam_run(bench, judge, out) == 0
        assert judge.requests == 8  # no new request, and no DAM loaded
    assert capsys.readouterr().out == first == "Summary (Pos\tNeg\tAvg(Pos, Neg)):\t0.000,\t1.000,\t0.500\n"
    scores = json.loads((out / "scores.json").read_text())
    assert (scores["pos"], scores["neg"], scores["avg"]) == (0.0, 1.0, 0.5)
    assert [row["key"] for row in scores["regions"]] == ["11", "12", "21"]
    assert (out / "scores.csv").read_text().splitlines()[0] == "key,class_name,recognised,score_pos,score_neg,score"
    judged = json.loads((out / "shapes-dam_eval.json").read_text())
    assert judged["12"]["prompt"][0].count("Is it likely that the objects in the description are boxes or objects")
    assert "is a tile or an object of a similar type" in judged["11"]["prompt"][0]


def _no_dam(*args, **kwargs):
    raise AssertionError("the DAM was loaded although every region had its caption")


def test_pred_reads_only_questions_and_class_names(bench, tmp_path, capsys):
    for name in ("annotations.json", "images"):
        shutil.rmtree(bench / name) if name == "images" else (bench / name).unlink()
    pred = tmp_path / "mine.json"
    pred.write_text(json.dumps({"11": "A red tile.", "12": "Blue boxes.", "21": "A blue box.", "query": "q"}))
    with StandInJudge(lambda prompt: "B" if "Is it likely" not in prompt else "Yes") as judge:
        assert run("--data", str(bench), "--pred", str(pred), "--judge-url", judge.url, "--out", str(tmp_path)) == 0
    # B: the part is mentioned with its colour (positive 1), the absent part is mentioned (negative -1)
    assert capsys.readouterr().out.endswith("\t1.000,\t-1.000,\t0.000\n")
    assert (tmp_path / "mine_eval.json").is_file()


def test_failed_recognition_caps_scores_at_zero(bench, tmp_path, capsys):
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"11": "x", "12": "y", "21": "z"}))
    def best_but_wrong_object(prompt: str) -> str:  # every other answer scores 1: the gate makes them 0
        return "No" if "Is it likely" in prompt else "A" if "mentioned in the description." in prompt else "B"

    with StandInJudge(best_but_wrong_object) as judge:
        assert run("--data", str(bench), "--pred", str(pred), "--judge-url", judge.url, "--out", str(tmp_path)) == 0
    assert capsys.readouterr().out.endswith("\t0.000,\t0.000,\t0.000\n")


@pytest.mark.parametrize("answer, message", [(lambda p: "banana", "neither Yes nor No"),
                                             (lambda p: NOT_JSON, "not a chat completion")])
def test_nonsense_judge_is_one_line_error_and_rerun_resumes(bench, tmp_path, capsys, answer, message):
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"11": "x", "12": "y", "21": "z"}))
    args = ("--data", str(bench), "--pred", str(pred), "--out", str(tmp_path), "--judge-workers", "1",
            "--judge-retries", "0", "--judge-url")

    def first_region_only(prompt: str) -> object:
        return polite_judge(prompt) if "\nx\n" in prompt else answer(prompt)

    with StandInJudge(first_region_only) as judge:
        assert run(*args, judge.url) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("videocap: error: ") and message in error
    with StandInJudge(polite_judge) as judge:
        assert run(*args, judge.url) == 0
        assert judge.requests == 2 + 3  # region 11 was kept; only 12 and 21 are asked


def test_judge_that_is_down(bench, tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"11": "x", "12": "y", "21": "z"}))
    assert run("--data", str(bench), "--pred", str(pred), "--judge-url", f"http://127.0.0.1:{port}/v1",
               "--judge-retries", "1", "--out", str(tmp_path)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"videocap: error: judge at http://127.0.0.1:{port}/v1 failed after 1 retries")


@pytest.mark.parametrize("remove, message", [("qa.json", "qa.json: no such file"),
                                             ("class_names.json", "class_names.json: no such file"),
                                             ("annotations.json", "annotations.json: no such file"),
                                             ("images", "one.jpg: no such image")])
def test_missing_inputs(bench, tmp_path, capsys, remove, message):
    shutil.rmtree(bench / remove) if remove == "images" else (bench / remove).unlink()
    assert run("--data", str(bench), "--dam", str(DEMO_DAM), "--device", "cpu", "--judge-url",
               "http://127.0.0.1:9/v1", "--out", str(tmp_path / "out")) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and message in error


def test_pred_and_dam_are_exclusive_and_pred_must_cover_every_region(bench, tmp_path, capsys):
    assert run("--data", str(bench), "--judge-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path)) == 2
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"11": "x"}))
    assert run("--data", str(bench), "--pred", str(pred), "--judge-url", "http://127.0.0.1:9/v1",
               "--out", str(tmp_path)) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert "either --dam" in errors[0] and "no caption for 2 of 3 regions (first: 12)" in errors[1]


def test_fidelity_to_the_published_dam_3b_scores(reference_cache, tmp_path, capsys):
    """DAM-3B's cached captions, judged by a judge that answers each exact prompt as the cached judge did,
    give the published 0.510 / 0.830 / 0.670: our prompts match the evaluator's byte for byte."""
    cached = json.loads((reference_cache / "dam_3b_v1_eval.json").read_text())
    answers = {p: r for record in cached.values() if isinstance(record, dict)
               for p, r in zip(record["prompt"], record["response"], strict=True)}
    bench = bench_from_cache(cached, tmp_path / "DLC-Bench")
    pred = shutil.copy(reference_cache / "dam_3b_v1.json", tmp_path / "dam_3b_v1.json")
    args = ("--data", str(bench), "--pred", str(pred), "--judge-retries", "0", "--out", str(tmp_path / "out"))
    with StandInJudge(lambda prompt: answers.get(prompt, "unknown prompt")) as judge:
        assert run(*args, "--judge-url", judge.url) == 0
        assert judge.requests == len(answers) == 992
        assert run(*args, "--judge-url", judge.url) == 0
        assert judge.requests == 992  # the rerun asks nothing
    assert capsys.readouterr().out.splitlines() == [DAM_3B_SUMMARY, DAM_3B_SUMMARY]
    ours = json.loads((tmp_path / "out" / "dam_3b_v1_eval.json").read_text())
    assert {k: v for k, v in ours.items() if isinstance(v, dict)} == \
        {k: v for k, v in cached.items() if isinstance(v, dict)}  # every region's record, details included


def test_the_evaluators_own_eval_file_is_reused_without_a_call(reference_cache, tmp_path, capsys):
    cached = json.loads((reference_cache / "dam_3b_v1_eval.json").read_text())
    bench = bench_from_cache(cached, tmp_path / "DLC-Bench")
    (tmp_path / "out").mkdir()
    shutil.copy(reference_cache / "dam_3b_v1_eval.json", tmp_path / "out")
    with StandInJudge(lambda prompt: "no") as judge:
        assert run("--data", str(bench), "--pred", str(reference_cache / "dam_3b_v1.json"), "--judge-url",
                   judge.url, "--out", str(tmp_path / "out")) == 0
        assert judge.requests == 0
    assert capsys.readouterr().out.strip() == DAM_3B_SUMMARY
