"""The `route batch` benchmark (issue 9): five sections of the example scaffold against a real
llama-server with 1 and with 4 parallel slots — wall time ratio and total output tokens/s.

    python -m bench.batch [--model smollm2] [--slots 1 4] [--sections 1-5]

``measure_batch`` is what ``make bench`` calls; it returns plain data (one row per slot count
and the wall-time ratio of the first to the last). Verify is off: this measures generation.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import TOOLS, BenchError

REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLE = REPOSITORY / "examples" / "projects-api"
SLOT_CONTEXT = 4096


def _run_once(model: str, slots: int, sections: str, max_output_tokens: int) -> dict[str, Any]:
    from bench.llama import model_file, runtime_error_types
    from route.backends.configured import backend_for
    from route.batch.plan import plan_from_skill
    from route.batch.runner import BatchOptions, EndpointSpec, run_batch
    from route.run.pipeline import GenOptions, total_usage
    from route.settings.config import Config

    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    import llama_runtime as runtime

    with tempfile.TemporaryDirectory(prefix="route-bench-batch-") as folder:
        project = Path(folder) / "projects-api"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".*cache"))
        try:
            server = runtime.LlamaServer(
                model_file(model),
                context_size=SLOT_CONTEXT * slots,
                parallel=slots,
                alias=model,
                log_path=Path(folder) / "llama.log",
            ).start()
        except runtime_error_types() as exc:
            raise BenchError(f"llama-server could not start: {exc}") from exc
        try:
            config = Config(backend="openai", base_url=server.base_url, model=model)
            plan = plan_from_skill("scaffold", "Projects", cwd=project, sections=sections)
            defaults = GenOptions(
                task="",
                skill_refs=(),
                project_root=project,
                cwd=project,
                model=model,
                verify=None,
                max_attempts=1,
                max_output_tokens=max_output_tokens,
                seed=1,
            )
            endpoint = EndpointSpec("llama", slots, lambda: backend_for(config))
            started = time.perf_counter()
            result = run_batch(plan, BatchOptions(defaults), [endpoint])
            wall = time.perf_counter() - started
        finally:
            server.stop()
    runs = [outcome.result for outcome in result.tasks if outcome.result is not None]
    output_tokens = sum(total_usage(run).output_tokens for run in runs)
    return {
        "slots": slots,
        "tasks": len(plan.tasks),
        "wall_seconds": round(wall, 2),
        "output_tokens": output_tokens,
        "tokens_per_second": round(output_tokens / wall, 1) if wall > 0 else 0.0,
        "statuses": [run.status for run in runs],
    }


def measure_batch(
    model: str = "smollm2",
    slots: Sequence[int] = (1, 4),
    sections: str = "1-5",
    max_output_tokens: int = 512,
) -> dict[str, Any]:
    """One row per slot count, and how much faster the last was than the first (wall time)."""
    rows = [_run_once(model, count, sections, max_output_tokens) for count in slots]
    first, last = rows[0]["wall_seconds"], rows[-1]["wall_seconds"]
    return {
        "benchmark": "route batch",
        "model": model,
        "sections": sections,
        "rows": rows,
        "wall_time_ratio": round(first / last, 2) if last > 0 else None,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--sections", default="1-5")
    parser.add_argument("--max-output-tokens", type=int, default=512)
    arguments = parser.parse_args(argv)
    report = measure_batch(
        arguments.model, arguments.slots, arguments.sections, arguments.max_output_tokens
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
