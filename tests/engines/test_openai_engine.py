"""OpenAI-compatible engine: retries/backoff, n fallback, concurrency, API-key handling, images, real server.

The fast tests talk to a small scripted HTTP server on 127.0.0.1 (429/5xx/400 replies, servers
without ``n``); the slow ones to a real ``vllm serve`` on the tiny model:

    pytest tests/engines/test_openai_engine.py            # fast
    pytest tests/engines/test_openai_engine.py --runslow  # also against vllm serve
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rft.engines.openai import OpenAIEngine, ServerUnavailableError, split_tokens, with_images
from rft.errors import MissingDependencyError, RftError
from rft.records import Problem, SamplingParams
from tests.engines.conftest import free_port

pytest.importorskip("httpx")

PROBLEMS = [Problem(id=f"p{i}", prompt=f"what is {i} plus {i}?", answer=str(2 * i)) for i in range(4)]
Reply = tuple[int, dict[str, str], dict[str, Any]]


def completion(body: dict[str, Any], choices: int | None = None) -> Reply:
    """A well-formed reply with ``choices`` (default: the requested ``n``) distinct answers."""
    k = body.get("n", 1) if choices is None else choices
    texts = [f"answer {body['seed']}-{i} #### 4" for i in range(k)]
    return 200, {}, {"choices": [{"index": i, "message": {"role": "assistant", "content": t},
                                  "finish_reason": "stop"} for i, t in enumerate(texts)],
                     "usage": {"prompt_tokens": 7, "completion_tokens": 5 * k}}


class Scripted:
    """A loopback chat-completions server; ``reply(body, count)`` decides each answer."""

    def __init__(self, reply: Callable[[dict[str, Any], int], Reply], delay: float = 0.0):
        self.reply, self.delay = reply, delay
        self.requests: list[tuple[float, dict[str, str], dict[str, Any]]] = []
        self.open = self.max_open = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append((time.monotonic(), dict(self.headers), body))
                    count = len(outer.requests)
                    outer.open += 1
                    outer.max_open = max(outer.max_open, outer.open)
                time.sleep(outer.delay)
                status, headers, payload = outer.reply(body, count)
                with outer.lock:
                    outer.open -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(reply: Callable[[dict[str, Any], int], Reply] = lambda b, c: completion(b), delay: float = 0.0):
        servers.append(Scripted(reply, delay))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def engine_for(server: Scripted, **kw: Any) -> OpenAIEngine:
    return OpenAIEngine("tiny", **{"base_url": server.url, "backoff": 0.01, "timeout": 10, **kw})


def run(engine: OpenAIEngine, problems=PROBLEMS, **kw: Any) -> dict[str, list]:
    params = SamplingParams(**{"n": 3, "max_new_tokens": 16, **kw})
    out = {g[0].problem_id: g for g in engine.generate(problems, params)}
    assert sorted(out) == sorted(p.id for p in problems)
    for group in out.values():
        assert [c.index for c in group] == list(range(params.n))
    return out


def test_one_request_per_problem_with_n(serve) -> None:
    server = serve()
    out = run(engine_for(server))
    assert len(server.requests) == 4 and all(b["n"] == 3 for _, _, b in server.requests)
    body = server.requests[0][2]
    assert body["model"] == "tiny" and body["messages"][-1]["role"] == "user" and body["max_tokens"] == 16
    assert "top_k" not in body and "stop" not in body  # only sent when set: hosted APIs reject unknown fields
    group = out["p0"]
    assert len({c.text for c in group}) == 3 and all(c.completion_tokens == 5 and c.prompt_tokens == 7 for c in group)


def test_429_is_retried_after_retry_after_then_succeeds(serve) -> None:
    server = serve(lambda b, count: (429, {"Retry-After": "0.3"}, {"error": "slow down"}) if count == 1
                   else completion(b))
    engine = engine_for(server, concurrency=1)
    run(engine, problems=PROBLEMS[:1])
    (t1, _, first), (t2, _, second) = server.requests
    assert engine.retries == 1 and first == second
    assert 0.3 <= t2 - t1 < 2  # waited as the server asked, boundedly


def test_5xx_backoff_doubles_then_succeeds(serve) -> None:
    server = serve(lambda b, count: (503, {}, {"error": "overloaded"}) if count <= 3 else completion(b))
    engine = engine_for(server, concurrency=1, backoff=0.1)
    run(engine, problems=PROBLEMS[:1])
    times = [t for t, _, _ in server.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert engine.retries == 3 and len(times) == 4
    # 0.1 * 2**attempt with jitter in [0.5, 1]: [0.05, 0.1], [0.1, 0.2], [0.2, 0.4]
    assert 0.05 <= gaps[0] < gaps[2] and 0.2 <= gaps[2] < 1.5


def test_gives_up_after_max_retries(serve) -> None:
    server = serve(lambda b, c: (500, {}, {"error": "boom"}))
    engine = engine_for(server, max_retries=2)
    with pytest.raises(ServerUnavailableError, match="HTTP 500 after 3 attempts"):
        run(engine, problems=PROBLEMS[:1])
    assert len(server.requests) == 3


def test_connection_refused_is_retried_then_reported() -> None:
    engine = OpenAIEngine("tiny", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=2, backoff=0.01)
    with pytest.raises(ServerUnavailableError, match="ConnectError.*after 3 attempts"):
        run(engine, problems=PROBLEMS[:1])
    assert engine.retries == 2


def test_bad_request_is_not_retried_and_says_why(serve) -> None:
    server = serve(lambda b, c: (400, {}, {"error": {"message": "max_tokens is too large:\n 99999"}}))
    with pytest.raises(RftError, match=r"HTTP 400: max_tokens is too large: 99999$"):
        run(engine_for(server, n_per_request=True), problems=PROBLEMS[:1])
    assert len(server.requests) == 1


def test_server_ignoring_n_gets_parallel_single_requests(serve) -> None:
    server = serve(lambda b, c: completion(b, choices=1))
    engine = engine_for(server, concurrency=1)
    out = run(engine)
    ns = [b.get("n", 1) for _, _, b in server.requests]
    # Requests sent before the first reply still ask for 3; every later one asks for 1.
    assert ns[0] == 3 and ns[-1] == 1 and ns.count(3) <= 2 and set(ns) == {1, 3} and len(ns) == 12
    assert engine.n_supported is False
    assert len({b["seed"] for _, _, b in server.requests}) == 12 and len({c.text for c in out["p0"]}) == 3


def test_server_refusing_n_falls_back_to_single_requests(serve) -> None:
    server = serve(lambda b, c: (400, {}, {"error": "n must be 1"}) if b.get("n", 1) > 1 else completion(b))
    engine = engine_for(server, concurrency=2)
    run(engine)
    assert engine.n_supported is False
    assert sum(b.get("n", 1) == 1 for _, _, b in server.requests) == 12


def test_concurrency_is_bounded_and_used(serve) -> None:
    server = serve(delay=0.1)
    problems = [Problem(id=f"q{i}", prompt="hi", answer="1") for i in range(12)]
    run(engine_for(server, concurrency=3), problems=problems, n=1)
    assert server.max_open == 3


def test_api_key_comes_from_the_named_env_var_and_is_never_stored(serve, tmp_path: Path, monkeypatch) -> None:
    from rft.pipeline import GenerateConfig, generate

    secret = "sk-test-5f1d0c"
    monkeypatch.setenv("MY_SERVER_KEY", secret)
    server = serve()
    out = tmp_path / "run"
    generate(GenerateConfig(task="arith", out=out, model="tiny", task_args={"count": 3}, engine="openai",
                            engine_args={"base_url": server.url, "api_key_env": "MY_SERVER_KEY"},
                            sampling=SamplingParams(n=2, max_new_tokens=8), progress=False))
    assert all(h["Authorization"] == f"Bearer {secret}" for _, h, _ in server.requests)
    assert {"config.json", "problems.jsonl", "samples.jsonl", "summary.json"} <= {p.name for p in out.iterdir()}
    assert all(secret not in p.read_text() for p in out.rglob("*") if p.is_file())
    assert sum(1 for _ in (out / "samples.jsonl").open()) == 6


def test_api_key_as_an_argument_is_refused() -> None:
    with pytest.raises(RftError, match="api_key_env"):
        OpenAIEngine("tiny", api_key="sk-nope")
    with pytest.raises(RftError, match="unknown openai engine argument"):
        OpenAIEngine("tiny", batch_size=4)


def test_unauthorized_names_the_env_var(serve) -> None:
    server = serve(lambda b, c: (401, {}, {"error": {"message": "invalid key"}}))
    with pytest.raises(RftError, match=r"HTTP 401: invalid key; export the API key in \$KEY_VAR"):
        run(engine_for(server, api_key_env="KEY_VAR"), problems=PROBLEMS[:1])


def test_stop_top_k_and_extra_body_are_sent_and_stop_is_applied(serve) -> None:
    server = serve(lambda b, c: completion(b))
    engine = engine_for(server, extra_body={"min_p": 0.05}, max_tokens_field="max_completion_tokens")
    out = run(engine, problems=PROBLEMS[:1], stop=("####",), top_k=5)
    body = server.requests[0][2]
    assert body["stop"] == ["####"] and body["top_k"] == 5 and body["min_p"] == 0.05
    assert body["max_completion_tokens"] == 16 and "max_tokens" not in body
    assert all("####" not in c.text for c in out["p0"])  # servers that echo the stop string get cut too


def test_images_are_sent_as_data_urls(serve, tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    server = serve()
    run(engine_for(server), problems=[Problem(id="v", prompt="what is it?", answer="1", images=(str(png),))])
    content = server.requests[0][2]["messages"][-1]["content"]
    assert content[1] == {"type": "text", "text": "what is it?"}
    url = content[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == png.read_bytes()


def test_image_placeholders_are_replaced_in_order(tmp_path: Path) -> None:
    pngs = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"]
    for i, png in enumerate(pngs):
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]))
    messages = [{"role": "system", "content": "count"},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "and"}, {"type": "image"}]}]
    content = with_images(messages, [str(p) for p in pngs])[1]["content"]
    assert [part["type"] for part in content] == ["image_url", "image_url", "text", "image_url"]
    sent = [base64.b64decode(part["image_url"]["url"].split(",", 1)[1]) for part in content if "image_url" in part]
    assert sent == [pngs[2].read_bytes(), pngs[0].read_bytes(), pngs[1].read_bytes()]  # the extra one first
    assert messages[1]["content"][0] == {"type": "image"}  # the input is not modified
    with pytest.raises(RftError, match="not found"):
        with_images(messages, [str(tmp_path / "missing.png")])


@pytest.mark.parametrize("total, texts, finishes, expected", [
    (10, ["abc", "a"], ["stop", "stop"], [7, 3]),
    (40, ["x" * 50, "yy"], ["length", "stop"], [32, 8]),
    (5, ["", "", ""], ["stop", "stop", "stop"], [2, 2, 1]),
    (0, ["a"], ["stop"], [0]),
])
def test_usage_tokens_are_shared_among_choices(total, texts, finishes, expected) -> None:
    counts = split_tokens(total, texts, finishes, max_tokens=32)
    assert counts == expected and sum(counts) == max(total, 32 * finishes.count("length"))


def test_missing_httpx_fails_at_once_with_the_pip_line(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "httpx" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'rftkit\[openai\]'"):
        OpenAIEngine("tiny")


# ------------------------------------------------------------------ slow: a real vllm serve

@pytest.mark.slow
@pytest.mark.vllm
def test_against_vllm_serve(vllm_server: str) -> None:
    engine = OpenAIEngine("tiny", base_url=vllm_server, concurrency=4)
    out = run(engine, n=4, max_new_tokens=8)
    samples = [c for g in out.values() for c in g]
    assert engine.n_supported is None  # vLLM honours n: one request per problem, no fallback
    assert all(c.finish_reason == ("length" if c.completion_tokens == 8 else "stop") for c in samples)
    assert all(0 < c.completion_tokens <= 8 and c.prompt_tokens > 0 for c in samples)
    assert len({c.text for c in samples}) > 8
    again = run(engine, n=4, max_new_tokens=8)
    assert {p: [c.text for c in g] for p, g in out.items()} == {p: [c.text for c in g] for p, g in again.items()}


@pytest.mark.slow
@pytest.mark.vllm
def test_rft_generate_against_vllm_serve(vllm_server: str, tmp_path: Path) -> None:
    from rft.cli import main

    out = tmp_path / "run"
    code = main(["generate", "--task", "arith", "--task-arg", "count=4", "--model", "tiny", "--engine", "openai",
                 "--engine-arg", f"base_url={vllm_server}", "--n", "2", "--max-new-tokens", "8",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    assert {"config.json", "problems.jsonl", "samples.jsonl", "summary.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "summary.json").read_text())["samples"] == 8
    assert json.loads((out / "config.json").read_text())["engine"] == {"name": "openai", "base_url": vllm_server}
