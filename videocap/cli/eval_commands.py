"""``eval dlc-bench`` and ``eval captions``: how good the captions are, against DLC-Bench's judge or
against reference captions."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.cli.group import cli
from videocap.cli.options import echo_err, out_callback
from videocap.errors import UserError

DLC_EXAMPLES = """\b
Examples:
  vllm serve meta-llama/Llama-3.1-8B-Instruct --port 9000 &     # any OpenAI-compatible server will do
  videocap eval dlc-bench --data DLC-Bench --dam nvidia/DAM-3B --judge-url http://127.0.0.1:9000/v1 --out dlc/
  videocap eval dlc-bench --data DLC-Bench --pred dam_3b_v1.json --judge-url http://127.0.0.1:9000/v1 --out dlc/
"""

CAPTION_EXAMPLES = """\b
Examples:
  videocap eval captions --pred out/ --ref refs.json             # a run folder (its captions.json)
  videocap eval captions --pred preds.json --ref VideoRefer-Bench-D.json
"""


@cli.group("eval")
def eval_group() -> None:
    """Measure caption quality: DLC-Bench, or metrics against reference captions."""


@eval_group.command("dlc-bench", epilog=DLC_EXAMPLES)
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="The DLC-Bench folder (nvidia/DLC-Bench: images/, annotations.json, qa.json, class_names.json).")
@click.option("--judge-url", required=True, help="Base URL of an OpenAI-compatible chat-completions server.")
@click.option("--judge-model", default=None, help="The judge's model name [default: meta-llama/Meta-Llama-3.1-8B-Instruct].")
@click.option("--dam", default=None, help="Caption the regions with this DAM checkpoint (folder or hub id).")
@click.option("--pred", type=click.Path(path_type=Path), default=None,
              help="Captions made elsewhere (JSON: region key -> caption); only qa.json and class_names.json are read.")
@click.option("--out", type=click.Path(), callback=out_callback, required=True,
              help="Folder for the captions, the judge's answers (<captions>_eval.json) and scores.json/.csv.")
@click.option("--judge-workers", type=click.IntRange(min=1), default=8, show_default=True,
              help="Judge requests in flight at once.")
@click.option("--judge-retries", type=click.IntRange(min=0), default=4, show_default=True,
              help="Retries of a failed judge request (exponential backoff).")
@click.option("--judge-timeout", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds per judge request.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Regions per DAM batch.")
@click.option("--device", default=None, help="cpu, cuda, ... for the DAM [default: CUDA when present].")
def dlc_bench(data: Path, judge_url: str, judge_model: str | None, dam: str | None, pred: Path | None, out: Path,
              judge_workers: int, judge_retries: int, judge_timeout: float, batch_size: int,
              device: str | None) -> None:
    """Score captions on DLC-Bench exactly as NVIDIA's evaluator does; prints its summary line."""
    from videocap.evaluate.dlc_bench import read_questions, score_captions
    from videocap.evaluate.judge import DEFAULT_JUDGE_MODEL, Judge, JudgeSettings
    from videocap.io.files import ensure_writable_dir

    if (dam is None) == (pred is None):
        raise UserError("give either --dam (caption the regions) or --pred (captions made elsewhere)")
    questions = read_questions(data)
    ensure_writable_dir(out)
    if dam is not None:
        from videocap.evaluate.dlc_captions import caption_regions

        pred = out / f"{Path(dam.rstrip('/')).name}.json"  # the evaluator's cache name: the model's name
        caption_regions(data, questions.keys, dam, pred, batch_size=batch_size, device=device)
    judge = Judge(JudgeSettings(judge_url, judge_model or DEFAULT_JUDGE_MODEL, judge_workers, judge_retries,
                                judge_timeout))
    summary = score_captions(questions, pred, judge, out)
    echo_err(f"scores of {len(questions.keys)} regions in {out / 'scores.json'} and {out / 'scores.csv'}")
    click.echo(summary.line())


@eval_group.command("captions", epilog=CAPTION_EXAMPLES)
@click.option("--pred", type=click.Path(path_type=Path), required=True,
              help="A run folder, its captions.json, VideoRefer-style [{id, pred}], or {id: caption}.")
@click.option("--ref", type=click.Path(path_type=Path), required=True,
              help="Reference captions: videocap's {objects: [...]} or VideoRefer-Bench-D's JSON.")
@click.option("--match", "match_by", type=click.Choice(["auto", "id", "iou"]), default="auto", show_default=True,
              help="Pair objects by id or by mask IoU; auto: IoU when every reference object has masks.")
@click.option("--min-iou", type=click.FloatRange(0, 1), default=0.5, show_default=True)
def captions(pred: Path, ref: Path, match_by: str, min_iou: float) -> None:
    """BLEU-4, ROUGE-L, CIDEr (and METEOR with Java) of object captions against reference captions."""
    from videocap.evaluate.caption_metrics import CaptionPair, caption_scores
    from videocap.evaluate.videorefer import (
        match_objects,
        read_predictions,
        read_references,
    )

    references, predictions = read_references(ref), read_predictions(pred)
    if match_by == "auto":
        match_by = "iou" if references and all(r.masks for r in references) else "id"
    pairs = match_objects(predictions, references, match_by, min_iou)
    echo_err(f"{len(pairs)} of {len(references)} reference objects matched by {match_by}")
    if not pairs:
        raise UserError(f"no predicted object matches a reference object by {match_by}")
    scores = caption_scores([CaptionPair(r.key, p.text, r.captions) for p, r in pairs])
    for line in scores.lines():
        click.echo(line)
