"""The DLC-Bench judge: any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp, OpenAI...),
asked as NVIDIA's evaluator asks it (one user message, temperature 0, at most 300 tokens)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from videocap.errors import UserError

DEFAULT_JUDGE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct"  # the evaluator's judge
JUDGE_TEMPERATURE = 0.0
JUDGE_MAX_TOKENS = 300


@dataclass(frozen=True)
class JudgeSettings:
    url: str
    model: str = DEFAULT_JUDGE_MODEL
    workers: int = 8  # requests in flight at once
    retries: int = 4  # the client retries connection errors, 408, 429 and 5xx with exponential backoff
    timeout: float = 120.0  # seconds per request


class Judge:
    def __init__(self, settings: JudgeSettings) -> None:
        import openai  # imported late: only the judge step needs it

        self.settings = settings
        self._errors = openai.APIError
        self._client = openai.OpenAI(base_url=settings.url, api_key=os.environ.get("OPENAI_API_KEY", "unused"),
                                     max_retries=settings.retries, timeout=settings.timeout)

    def ask(self, prompt: str) -> str:
        """The judge's answer to one prompt; a one-line ``UserError`` when there is none to be had."""
        try:
            response = self._client.chat.completions.create(
                model=self.settings.model, messages=[{"role": "user", "content": prompt}],
                temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS, top_p=1, frequency_penalty=0,
                presence_penalty=0)
        except self._errors as exc:
            raise UserError(f"judge at {self.settings.url} failed after {self.settings.retries} retries: "
                            f"{_one_line(exc)}") from exc
        except ValueError as exc:  # the body is not JSON
            raise UserError(f"judge at {self.settings.url} answered something that is not a chat completion: "
                            f"{_one_line(exc)}") from exc
        return self._message(response)

    def _message(self, response) -> str:
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise UserError(f"judge at {self.settings.url} answered something that is not a chat completion: "
                            f"{str(response)[:80]!r}")
        return content


def run_bounded(tasks: Iterable[Callable[[], object]], workers: int, done: Callable[[object], None]) -> None:
    """Run the tasks on ``workers`` threads, handing each result to ``done`` (in this thread) as it comes.

    The first failure cancels the tasks not yet started; those running finish (their results are kept, so
    that a rerun need not redo them) and then the failure is raised."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(task) for task in tasks]
        failure: BaseException | None = None
        try:
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                if future.exception() is None:
                    done(future.result())
                elif failure is None:
                    failure = future.exception()
                    _cancel(futures)
        finally:
            _cancel(futures)  # Ctrl-C here must not leave the queue running
    if failure is not None:
        raise failure


def _cancel(futures: list[Future]) -> None:
    for future in futures:
        future.cancel()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
