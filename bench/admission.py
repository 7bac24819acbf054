"""Admission decisions: warm rate and p99, cold decision time, next to policy-tester.

Starts a throw-away docker-registry on loopback, pushes and signs (sigstack, legacy
layout, no log) a few small images, starts ``sigstack admission serve`` over TLS
(one process, policies from a file, no Kubernetes API), then measures:

  * **cold**: one validating AdmissionReview for a Pod whose image has not been
    decided yet (registry reads + signature check), median over fresh images;
  * **warm**: validating reviews for already-decided images (the decision cache),
    ``--requests`` of them over ``--concurrency`` keep-alive TLS connections:
    decisions per second and the p50/p99 latency;
  * **policy-tester**: the real ``policy-tester`` (if built) on the same policy and
    image, whole-process time, median — the cold ratio is tester / sigstack.

The load generator speaks raw HTTP/1.1 over asyncio TLS streams (a general client
would cost more CPU than the server it measures; both share the machine's cores).

    .venv/bin/python bench/admission.py [--requests 3000] [--concurrency 8] [--cold 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.keys_backends._http import make_tls  # noqa: E402
from tests.oci.ocihelpers import fresh, start_registry  # noqa: E402

TESTER = Path.home() / "go" / "bin" / "policy-tester"
PW = {"COSIGN_PASSWORD": "pw"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_review(image: str) -> bytes:
    doc = json.loads((ROOT / "tests" / "admission" / "data" / "pod.json").read_text())
    doc["request"]["uid"] = str(uuid.uuid4())
    spec = doc["request"]["object"]["spec"]
    spec["initContainers"] = []
    spec["containers"] = spec["containers"][:1]
    spec["containers"][0]["image"] = image
    return json.dumps(doc).encode()


async def _worker(host: str, port: int, ctx: ssl.SSLContext, bodies: list[bytes], latencies: list[float],
                  answers: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    head = f"POST /validations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    for body in bodies:
        t0 = time.perf_counter()
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        answer = await reader.readexactly(length)
        latencies.append(time.perf_counter() - t0)
        if b" 200 " not in status:
            raise SystemExit(f"unexpected status {status!r}")
        answers.append(answer)
    writer.close()


def post_all(port: int, ctx: ssl.SSLContext, bodies: list[bytes], concurrency: int
             ) -> tuple[float, list[float], list[bytes]]:
    latencies: list[float] = []
    answers: list[bytes] = []
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    async def main() -> None:
        await asyncio.gather(*(_worker("127.0.0.1", port, ctx, c, latencies, answers) for c in chunks if c))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start, latencies, answers


def allowed(answer: bytes) -> bool:
    return bool(json.loads(answer)["response"]["allowed"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cold", type=int, default=5, help="fresh images for the cold decision")
    parser.add_argument("--warm-images", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sigstack-bench-admission-"))
    registry = start_registry(tmp / "registry", "")
    server = None
    try:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "KUBE"))},
               "HOME": str(tmp), **PW}
        subprocess.run([sys.executable, "-m", "sigstack.cli.main", "generate-key-pair"], cwd=tmp, env=env,
                       check=True, capture_output=True)
        images = [fresh(registry) for _ in range(args.warm_images + args.cold)]
        for img in images:
            subprocess.run([sys.executable, "-m", "sigstack.cli.main", "sign", "--key", str(tmp / "cosign.key"),
                            "--tlog-upload=false", img], env=env, check=True, capture_output=True)
        policy = tmp / "policy.yaml"
        pub = (tmp / "cosign.pub").read_text()
        policy.write_text(json.dumps({
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"},
            "spec": {"images": [{"glob": f"{registry.host}/**"}], "authorities": [{"key": {"data": pub}}]}}))
        (tmp / "tls").mkdir()
        tls = make_tls(tmp / "tls")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "sigstack.cli.main", "admission", "serve", "--policy",
                                   str(policy), "--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file),
                                   "--host", "127.0.0.1", "--port", str(port), "--kubernetes=false"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ctx = ssl.create_default_context(cafile=str(tls.ca_file))
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("admission serve did not start") from None
                time.sleep(0.1)
        cold_images, warm_images = images[:args.cold], images[args.cold:]
        # warm the server's own imports and the TLS session with a decision not measured
        post_all(port, ctx, [pod_review(warm_images[0])], 1)
        cold = []
        for img in cold_images:
            seconds, _, answers = post_all(port, ctx, [pod_review(img)], 1)
            assert allowed(answers[0]), answers[0]
            cold.append(seconds)
        post_all(port, ctx, [pod_review(img) for img in warm_images], 1)  # decide each once
        bodies = [pod_review(warm_images[i % len(warm_images)]) for i in range(args.requests)]
        seconds, latencies, answers = post_all(port, ctx, bodies, args.concurrency)
        assert all(allowed(a) for a in answers)
        latencies.sort()
        rate = len(bodies) / seconds
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        cold_ms = statistics.median(cold) * 1000
        print(f"cores: {os.cpu_count()}; {len(bodies)} warm validating reviews over {args.concurrency} TLS "
              f"connections")
        print(f"warm: {rate:,.0f} decisions/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        print(f"cold: {cold_ms:.1f} ms per decision (median of {len(cold)}, registry reads + signature check)")
        if TESTER.exists():
            times = []
            for img in cold_images:
                t0 = time.perf_counter()
                r = subprocess.run([str(TESTER), "-policy", str(policy), "-image", img, "-log-level", "error"],
                                   env=env, capture_output=True)
                times.append(time.perf_counter() - t0)
                assert r.returncode == 0, r.stderr.decode()
            tester_ms = statistics.median(times) * 1000
            print(f"policy-tester: {tester_ms:.1f} ms per image (median of {len(times)}, whole process)")
            print(f"cold ratio policy-tester / sigstack decision: {tester_ms / cold_ms:.1f}x")
        else:
            print("policy-tester: not built (../shared/peers/build-policy-tester); no cold ratio")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        registry.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
