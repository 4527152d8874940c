"""Entry point of the simulated engine: parse engine flags, check memory, serve."""

from __future__ import annotations

import logging
import sys
import time

from autotuner.sim.config import SimConfig, parse_args
from autotuner.sim.model import PerformanceModel, StartupError

logger = logging.getLogger("autotuner.sim")


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; returns the process exit code.

    Exit code 1 when the configuration cannot start (e.g. CUDA out of memory
    with ``--gpu-memory-utilization`` above 0.95), 2 on malformed flags.
    """
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse: --help (0) or a malformed value (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    _setup_logging(config)
    logger.info("autotuner simulator starting (simulated engine, no GPU is used)")
    logger.info("engine args: %s", _describe(config))
    if config.ignored_flags:
        logger.warning(
            "autotuner simulator ignores flags it does not model: %s",
            " ".join(config.ignored_flags),
        )
    model = PerformanceModel(config)
    if config.load_time > 0:
        logger.info("loading model %s (simulated, %.1f s)", config.model, config.load_time)
        time.sleep(config.load_time)
    try:
        model.check_startup()
    except StartupError as exc:
        logger.error("autotuner simulator: engine start-up failed (simulated)")
        print(str(exc), file=sys.stderr, flush=True)
        return 1
    figures = model.describe()
    logger.info(
        "model %s: %.1fB parameters, %.2f GiB weights per GPU (simulated)",
        config.model,
        figures["model_params_billions"],
        figures["weight_gib_per_gpu"],
    )
    logger.info(
        "# KV cache tokens: %s; maximum concurrency for %s tokens per request: %.2fx",
        figures["kv_cache_tokens"],
        config.max_model_len,
        figures["max_concurrency_at_max_model_len"],
    )
    return _serve(config, model)


def _serve(config: SimConfig, model: PerformanceModel) -> int:
    import uvicorn

    from autotuner.sim.server import SimApp

    app = SimApp(config, model)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            lifespan="on",
            log_level="info" if config.log_level in ("info", "debug") else "warning",
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=2,
        )
    )
    logger.info(
        "autotuner simulator serving model %r on http://%s:%s",
        config.name,
        config.host,
        config.port,
    )
    server.run()
    return 0


def _setup_logging(config: SimConfig) -> None:
    level = getattr(logging, config.log_level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(asctime)s [autotuner-sim] %(message)s"))
    root = logging.getLogger("autotuner.sim")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _describe(config: SimConfig) -> str:
    keys = (
        "model",
        "max_num_seqs",
        "gpu_memory_utilization",
        "tensor_parallel_size",
        "max_num_batched_tokens",
        "enable_chunked_prefill",
        "schedule_policy",
        "max_model_len",
        "seed",
    )
    return ", ".join(f"{k}={getattr(config, k)!r}" for k in keys)
