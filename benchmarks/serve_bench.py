"""``videocap serve`` under load: throughput and latency at 1, 4, 8 and 16 concurrent clients.

Each client sends its requests one after another (greedy, 8 frames of 320x240 each, the region in the alpha
channel) to a real server on 127.0.0.1; the table gives requests per second, the ratio to one client (the
sequential throughput) and the p50/p99 latency. Models: the bundled demo DAM, and the medium random DAM of
``dam_bench.py`` (saved to a temporary folder in the official layout; its random text runs to max_tokens).

    python benchmarks/serve_bench.py                      # demo and medium, 1/4/8/16 clients
    python benchmarks/serve_bench.py --model demo --clients 1 8 --requests 8
    python benchmarks/serve_bench.py --reference-python /path/to/venv-with-transformers-4/bin/python

NVIDIA's reference server (``../shared/anchors/dam-reference/refsrc/dam_server.py``) needs transformers 4.x
in its own environment; with ``--reference-python`` it is started on the same checkpoint and measured beside.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "dam-reference" / "refsrc"


def frames_body(seed: int, frames: int, max_tokens: int) -> dict:
    from videocap.synthetic import make_clip

    clip = make_clip(seed, num_frames=frames, num_objects=1)
    (key,) = clip.masks[0]
    parts = []
    for frame, masks in zip(clip.frames, clip.masks):
        buf = io.BytesIO()
        Image.fromarray(np.dstack([frame, masks[key].astype(np.uint8) * 255]), "RGBA").save(buf, "PNG")
        parts.append({"type": "image_url", "image_url": {"url": "data:image/png;base64," +
                                                         base64.b64encode(buf.getvalue()).decode()}})
    return {"model": "describe_anything_model", "messages": [{"role": "user", "content": parts}],
            "temperature": 0, "max_tokens": max_tokens}


def medium_checkpoint(folder: Path) -> Path:
    import torch
    from dam_bench import SIZES, make_tokenizer

    from videocap.dam import DamModel
    from videocap.dam.config import synthetic_config
    from videocap.dam.saving import save_pretrained

    torch.manual_seed(0)
    tokenizer = make_tokenizer()
    model = DamModel.from_config(synthetic_config(**SIZES["medium"]), tokenizer, device="cpu")
    return save_pretrained(model, folder / "medium-dam", tokenizer.model_proto)


def start(command: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    for line in proc.stderr:
        if "listening on " in line:
            return proc, line.split("listening on ")[1].split()[0]
        if "Uvicorn running on " in line:  # the reference server
            return proc, line.split("Uvicorn running on ")[1].split()[0]
    raise SystemExit(f"the server did not start: {command}")


def measure(url: str, path: str, bodies: list[dict], clients: int, per_client: int) -> dict:
    latencies = []

    def client(n: int) -> None:
        with httpx.Client(timeout=600) as http:
            for k in range(per_client):
                started = time.perf_counter()
                answer = http.post(url + path, json=bodies[(n + k) % len(bodies)])
                answer.raise_for_status()
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    return {"rps": clients * per_client / wall, "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99))}


def table(name: str, url: str, path: str, bodies: list[dict], args) -> None:
    measure(url, path, bodies[:1], 1, 1)  # warm-up
    print(f"\n{name}\n{'clients':>7} {'req/s':>8} {'x seq':>6} {'p50 s':>7} {'p99 s':>7}")
    base = None
    for clients in args.clients:
        row = measure(url, path, bodies, clients, args.requests)
        base = base or row["rps"]
        print(f"{clients:>7} {row['rps']:>8.2f} {row['rps'] / base:>6.2f} {row['p50']:>7.3f} {row['p99']:>7.3f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("demo", "medium"), action="append")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the server")
    parser.add_argument("--reference-python", default=None, help="a Python with transformers 4.x for the reference")
    args = parser.parse_args()
    print(f"serve_bench: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.frames} frames per request, {args.max_tokens} max tokens, greedy, {args.requests} requests per client")
    bodies = [frames_body(seed, args.frames, args.max_tokens) for seed in range(4)]
    env = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.model or ["demo", "medium"]:
            dam = ["--dam", str(medium_checkpoint(Path(tmp)))] if name == "medium" else []
            proc, url = start([sys.executable, "-m", "videocap", "serve", "--demo", *dam, "--port", "0", "--data",
                               f"{tmp}/data", "--max-batch", "16", "--max-queue", "256"], env)
            try:
                table(f"videocap serve, {name} DAM (continuous batching, up to 16 rows)", url, "/v1/chat/completions",
                      bodies, args)
                checkpoint = dam[1] if dam else None
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            if args.reference_python:
                from videocap.resources import DEMO_DAM

                ref, ref_url = start([args.reference_python, str(REFERENCE / "dam_server.py"), "--model-path",
                                      checkpoint or str(DEMO_DAM), "--host", "127.0.0.1", "--port", "8799",
                                      "--temperature", "0", "--max_new_tokens", str(args.max_tokens),
                                      "--image_video_joint_checkpoint"], {"PYTHONPATH": str(REFERENCE)})
                try:
                    table(f"NVIDIA's reference server, {name} DAM", ref_url.rstrip("/"), "/chat/completions", bodies, args)
                finally:
                    ref.kill()
            else:
                print("  (the reference server: not run; give --reference-python, a Python with transformers 4.x)")


if __name__ == "__main__":
    main()
