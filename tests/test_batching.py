"""Dynamic micro-batching (issue: a hall of 200): drawings computed together give each the answer it gets
alone, the batcher groups what waits, and the real server batches concurrent students."""

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading

import httpx
import numpy as np
import pytest
import torch

from explorer.app.batching import Batcher, Busy
from explorer.constants import RNG_STREAMS
from explorer.store.registry import read_served_model
from explorer.vae.elbo import log_px_iwae
from explorer.vae.rng import normals
from explorer.views.inference import Drawing, encode_drawing, encode_drawings, log_px_drawing, log_px_drawings
from explorer.views.preprocess import BlankDrawingError, to_mnist

from conftest import ROOT, AppProcess, varied_drawings
from conftest import assert_same_answer as same_answer

MODELS = ["mnist-z2", "mnist-z16", "mnist-z50", "mnist-cvae-z16"]
NATS = 5e-4  # float32 rounding of sums over 784 pixels: measured at most 1.5e-4 nats


def run(main):
    """``asyncio.run(main())`` in a thread of its own: a browser test run earlier in this process may have
    left Playwright's event loop running in the main thread."""
    out = {}

    def target():
        out["result"] = asyncio.run(main())

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    return out["result"]


def assert_same_answer(batched: dict, alone: dict) -> None:
    """The same answer to float32 rounding (:func:`conftest.assert_same_answer`)."""
    same_answer(batched, alone, nats=NATS, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_a_batch_gives_each_drawing_its_single_answer(name):
    m = read_served_model(name)
    pics = varied_drawings()
    labels = m.config.labels
    batch = [Drawing(pics[i], k=k, seed=7 * i + 1, estimator=("trace", "meanfield")[i % 2],
                     label=(3 if labels and i == 2 else None))
             for i, k in enumerate([16, 4, 64, 1, 16, 8, 32, 2])]
    batch.insert(3, Drawing(np.zeros((140, 140), np.uint8)))  # a blank canvas among them
    batch.insert(5, Drawing(pics[0], k=0))  # a bad k
    answers = encode_drawings(m, batch)
    assert isinstance(answers[3], BlankDrawingError)
    assert isinstance(answers[5], ValueError) and "k must be" in str(answers[5])
    for d, got in zip(batch, answers, strict=True):
        if isinstance(got, Exception):
            continue
        assert_same_answer(got, encode_drawing(m, d.canvas, d.k, d.seed, d.label, d.estimator))
    # the batch did not mix drawings up: different drawings, different answers
    assert len({a["elbo"] for a in answers if isinstance(a, dict)}) == len(batch) - 2


@pytest.mark.parametrize("name", ["mnist-z2", "mnist-cvae-z16"])
def test_a_batch_of_log_px_gives_each_its_single_answer(name):
    m = read_served_model(name)
    pics = varied_drawings()
    ks = [1000, 37, 5000, 1, 1000, 250]
    batch = [Drawing(pics[i], k=k, seed=i) for i, k in enumerate(ks)]
    answers = log_px_drawings(m, batch)
    for d, got in zip(batch, answers, strict=True):
        alone = log_px_drawing(m, d.canvas, d.k, d.seed)
        assert got["k"] == alone["k"] and got["label"] == alone["label"]
        for key in ("log_px", "log_px_se", "ess"):
            # (the ESS, a ratio of sums of exp(log-weights), moves ~1e-5 relative with their float32 rounding)
            assert got[key] == pytest.approx(alone[key], rel=1e-4 if key == "ess" else 1e-5, abs=NATS, nan_ok=True), key
    # alone, the answer is the estimator's own, bit for bit (the generator's numbers, the same chunks)
    if not m.config.labels:
        x = torch.from_numpy(to_mnist(pics[0]).reshape(1, 784))
        eps = torch.from_numpy(normals(0, RNG_STREAMS["logpx"], 1000 * m.config.z_dim)).float()
        ref = log_px_iwae(m.ckpt.vae, x, 1000, eps=eps.reshape(1000, 1, m.config.z_dim))
        assert log_px_drawing(m, pics[0], 1000, seed=0)["log_px"] == float(ref[0])


def test_batcher_groups_what_waits_and_answers_each_its_own():
    gate, seen = threading.Event(), []

    def compute(items):
        seen.append(list(items))
        gate.wait(5)  # the first batch holds the lane while the others arrive
        return [ValueError(f"bad {i}") if i == 3 else i * 10 for i in items]

    async def main():
        b = Batcher(compute, lanes=1, max_batch=4)
        tasks = [asyncio.ensure_future(b.submit(0))]
        await asyncio.sleep(0.1)  # the first finds the lane free and starts alone
        tasks += [asyncio.ensure_future(b.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0.1)
        gate.set()
        return b, await asyncio.gather(*tasks, return_exceptions=True)

    b, results = run(main)
    assert seen == [[0], [1, 2, 3, 4], [5, 6]]  # alone at once, then up to max_batch of what waited
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50, 60]
    assert isinstance(results[3], ValueError) and str(results[3]) == "bad 3"
    assert b.stats() == {"batches": 3, "items": 7, "largest": 4, "queued": 0, "queued_cost": 0, "lanes": 1,
                         "busy_lanes": 0}


def test_batcher_refuses_work_past_its_budget_and_takes_it_again_later():
    gate = threading.Event()

    def compute(items):
        gate.wait(5)
        return items

    async def main():
        b = Batcher(compute, lanes=1, cost=lambda k: k, max_cost=6000)
        running = asyncio.ensure_future(b.submit(5000))  # computing: it no longer waits
        await asyncio.sleep(0.1)
        waiting = [asyncio.ensure_future(b.submit(k)) for k in (5000, 1000)]  # 6000 samples wait
        await asyncio.sleep(0.1)
        with pytest.raises(Busy):
            await b.submit(1)  # one sample more than the budget
        gate.set()
        done = await asyncio.gather(running, *waiting)
        return done, await b.submit(5000), b.stats()["queued_cost"]

    done, later, left = run(main)
    assert done == [5000, 5000, 1000] and later == 5000 and left == 0


def test_a_full_batcher_answers_overtaken_items_at_once_and_takes_the_newcomer():
    gate, newer = threading.Event(), set()
    computed = []

    def compute(items):
        gate.wait(5)
        computed.extend(items)
        return [f"answer {i}" for i in items]

    async def main():
        b = Batcher(compute, lanes=1, cost=lambda _: 1000, max_cost=2000,
                    overtaken=lambda i: "stale" if i in newer else None)
        running = asyncio.ensure_future(b.submit("a1"))  # computing
        await asyncio.sleep(0.1)
        waiting = [asyncio.ensure_future(b.submit(i)) for i in ("b1", "c1")]  # the queue is full
        await asyncio.sleep(0.1)
        with pytest.raises(Busy):
            await b.submit("d1")  # nobody overtaken yet: refused as before
        newer.add("b1")  # tab b has drawn again
        late = asyncio.ensure_future(b.submit("b2"))
        await asyncio.sleep(0.1)
        stale_answer = waiting[0].result()  # answered at once, before the lane frees
        gate.set()
        return stale_answer, await asyncio.gather(running, waiting[1], late), b.stats()["queued_cost"]

    stale_answer, answers, left = run(main)
    assert stale_answer == "stale"
    assert answers == ["answer a1", "answer c1", "answer b2"]
    assert "b1" not in computed and left == 0


def test_batcher_survives_a_failing_batch():
    calls = []

    def compute(items):
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [i + 1 for i in items]

    async def main():
        b = Batcher(compute, lanes=1)
        first = await asyncio.gather(b.submit(1), return_exceptions=True)
        return first, await b.submit(2)

    first, second = run(main)
    assert isinstance(first[0], RuntimeError) and second == 3


def test_the_server_batches_concurrent_students_and_each_gets_its_answer():
    app = AppProcess("--checkpoint", "mnist-z16")
    try:
        pics = [{"width": p.shape[1], "height": p.shape[0], "pixels": base64.b64encode(p.tobytes()).decode()}
                for p in (np.asarray(q, np.uint8) for q in varied_drawings())]
        bodies = [{**pics[i % 8], "k": 64, "seed": i} for i in range(24)]
        url = f"{app.url}api/models/mnist-z16/encode"
        httpx.post(url, json=bodies[0], timeout=60).raise_for_status()  # builds the model
        for _ in range(3):  # a burst of students at once; on a fast machine a burst may find free lanes
            got: dict[int, dict] = {}

            def student(i, got=got):
                with httpx.Client(timeout=60, headers={"X-VX-Tab": f"tab{i}"}) as c:
                    r = c.post(url, json=bodies[i])
                    assert r.status_code == 200, r.text
                    got[i] = r.json()

            threads = [threading.Thread(target=student, args=(i,)) for i in range(len(bodies))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            stats = httpx.get(f"{app.url}api/batches", timeout=10).json()["mnist-z16/encode"]
            if stats["largest"] > 1:
                break
        assert stats["largest"] > 1, stats
        for i, body in enumerate(bodies):  # each alone now, one after another: the same answers
            assert_same_answer(got[i], httpx.post(url, json=body, timeout=60).json())
        one = httpx.post(url, json={**bodies[0], "k": 1}, timeout=60)  # one sample: no s.e., sent as null
        assert one.status_code == 200 and one.json()["elbo_se"] is None and np.isfinite(one.json()["elbo"])
    finally:
        app.stop()


def test_the_servers_cpu_kernels_are_chosen_from_what_the_cpu_reports(monkeypatch):
    from explorer.app.startup import AVX512_FLAGS, prefer_vectorised_kernels

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert prefer_vectorised_kernels(AVX512_FLAGS | {"avx2", "fma"}) is None
    assert os.environ["ATEN_CPU_CAPABILITY"] == "default"  # yours stands
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    # A CPU without AVX-512 (a 2-core AMD EPYC of this machine kind), or without AVX2: torch's own choice stands
    assert prefer_vectorised_kernels(frozenset({"sse4_2", "avx", "avx2", "fma"})) is None
    assert prefer_vectorised_kernels(frozenset({"sse4_2"})) is None
    assert prefer_vectorised_kernels(frozenset()) is None and "ATEN_CPU_CAPABILITY" not in os.environ
    assert prefer_vectorised_kernels(AVX512_FLAGS | {"avx2", "fma"}) == "avx2"
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2"


def test_the_two_kernel_sets_give_the_same_answers():
    """The same drawings answered by torch's AVX-512 kernels and by its AVX2 kernels: the same answers. Only
    where the CPU has both kernel sets: asking for AVX-512 on a CPU without it kills torch (SIGILL)."""
    from explorer.app.startup import AVX512_FLAGS, cpu_flags

    flags = cpu_flags()
    if not flags >= AVX512_FLAGS | {"avx2", "fma"}:
        pytest.skip("this CPU lacks AVX-512 or AVX2: there is only one kernel set to compare")
    script = (
        "import json, sys; sys.path.insert(0, 'tests'); import torch; from conftest import varied_drawings\n"
        "from explorer.views.inference import encode_drawing, log_px_drawing\n"
        "from explorer.store.registry import read_served_model\n"
        "out = {'kernels': torch.backends.cpu.get_cpu_capability()}\n"
        "for name in ('mnist-z16', 'mnist-z50'):\n"
        "    m = read_served_model(name)\n"
        "    for i, c in enumerate(varied_drawings()[:3]):\n"
        "        out[f'{name}/{i}'] = [encode_drawing(m, c, k=32, seed=i), log_px_drawing(m, c, seed=i)]\n"
        "print(json.dumps(out))\n")
    runs = {}
    for cap in ("avx512", "avx2"):
        env = {**os.environ, "ATEN_CPU_CAPABILITY": cap}
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[cap] = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs["avx512"].pop("kernels") == "AVX512"
    assert runs["avx2"].pop("kernels") == "AVX2"
    for key, (enc, lp) in runs["avx512"].items():
        assert_same_answer(runs["avx2"][key][0], enc)
        assert runs["avx2"][key][1]["log_px"] == pytest.approx(lp["log_px"], abs=NATS)


@pytest.mark.parametrize(("cores", "lanes"), [(1, (1, 1)), (2, (2, 1)), (16, (2, 2)), (64, (2, 2))])
def test_lanes_stay_few_however_many_cores(cores, lanes):
    """One lane per core let 16 threads fight over one interpreter lock (200 students: a stroke p95 of
    1.7 s on 16 cores); the batchers keep to 2 lanes each, and a stroke keeps a core log p(x) cannot take."""
    from fastapi.testclient import TestClient

    from explorer.app.server import create_server
    from explorer.store.registry import ModelRegistry

    with TestClient(create_server(ModelRegistry(read_served_model("mnist-z2")), cores=cores)) as c:
        body = {"width": 40, "height": 40, "pixels": base64.b64encode(bytes([0] * 1000 + [255] * 600)).decode()}
        for route in ("encode", "logpx"):
            assert c.post(f"/api/models/mnist-z2/{route}", json=body).status_code == 200
        stats = c.get("/api/batches").json()
    assert (stats["mnist-z2/encode"]["lanes"], stats["mnist-z2/logpx"]["lanes"]) == lanes


def test_a_refusal_is_held_so_a_script_ignoring_retry_after_slows_down():
    """A 429 comes after the policy's hold (a page waits its Retry-After anyway); the app behind is not run.
    Without the hold, 20 scripts asking again at once had ~1,000 requests a second refused."""
    import time

    from explorer.app.admission import Admission, Policy

    async def app(scope, receive, send):
        raise AssertionError("a refused request reached the app")

    from fastapi.routing import APIRoute

    from explorer.app.admission import admitted

    policy = Policy(cores=2, refusal_hold=0.2)
    policy.declare([APIRoute("/api/models/{name}/encode", lambda name: None, methods=["POST"], **admitted("encode"))])
    scope = {"type": "http", "method": "POST", "path": "/api/models/mnist-z2/encode",
             "headers": [(b"x-vx-tab", b"tab1")], "client": ("127.0.0.1", 5000)}
    assert policy.kind_of(scope) == "encode" and policy.kind_of({**scope, "path": "/api/other"}) is None
    policy.inflight[Admission.client_key(scope)] = policy.per_client  # this tab already has 3 in flight
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def main():
        t0 = time.perf_counter()
        await Admission(app, policy)(scope, None, send)
        return time.perf_counter() - t0

    held = run(main)
    assert sent[0]["status"] == 429 and (b"retry-after", b"1") in sent[0]["headers"]
    assert held >= 0.2 and policy.refused[429] == 1


def test_every_route_of_ours_declares_its_admission_kind_and_the_origin_check_counts_first():
    """One admission point: each of our routes says its kind where it is defined; none is matched by a
    pattern that repeats the router. A cross-origin POST is refused before admission counts it."""
    import asyncio

    from explorer.app.admission import ADMISSION, KINDS, Admission
    from explorer.app.auth import Login
    from explorer.app.middleware import SameOrigin
    from explorer.app.server import server_parts
    from explorer.store.registry import ModelRegistry, read_served_model

    registry = ModelRegistry(read_served_model("mnist-z2"))
    routes, middleware = server_parts(registry, Login("u", "p"))
    policy = next(m.kwargs["policy"] for m in middleware if m.cls is Admission)
    ours = [r for r, _ in policy.routes]
    assert {r.path for r in ours} >= {"/api/models/{name}/encode", "/api/live/start", "/vx/{path:path}", "/login"}
    assert len(ours) >= 20
    from fastapi.routing import APIRoute

    from explorer.app.admission import Policy
    from explorer.app.live_routes import Lecturer, make_live_router
    from explorer.app.routes import make_router
    from explorer.views.live import LiveTrainer

    every = [*make_router(registry, lambda: None, Policy()).routes,
             *make_live_router(LiveTrainer(), Lecturer(None, class_login=False), lambda: None).routes,
             *(r for r in routes if isinstance(r, APIRoute))]
    undeclared = [r.path for r in every if ADMISSION not in (r.openapi_extra or {})]
    assert len(every) >= 24 and undeclared == []
    assert {r.openapi_extra[ADMISSION] for r in ours} <= set(KINDS)
    kinds = {r.path: r.openapi_extra[ADMISSION] for r in ours}
    assert kinds["/api/models/{name}/step"] == kinds["/api/models/{name}/check"] == "heavy"
    assert kinds["/api/models/{name}/map.csv"] == "file" and kinds["/api/models/{name}/logpx"] == "logpx"
    order = [m.cls for m in middleware]
    assert order.index(SameOrigin) < order.index(Admission)
    assert policy.slots["heavy"] == 1  # Pyro's param store is global: step 6 and the check run one at a time

    async def app(scope, receive, send):  # the stack below the origin check must not be reached
        raise AssertionError("a cross-origin POST got past the origin check")

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/models/mnist-z2/step", "client": ("127.0.0.1", 1),
             "headers": [(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1:7860")]}
    asyncio.run(SameOrigin(Admission(app, policy))(scope, None, send))
    assert sent[0]["status"] == 403 and policy.counts()["refused"] == {} and not policy.inflight


def test_a_heavy_slot_goes_to_whoever_has_had_the_fewest_lately():
    """Step 6's one slot: a script that spent its tokens back to back waits behind a student who asks now
    and then, though it came first; one refused lately waits behind both (20 such scripts made a student's
    step wait for a queue of theirs: p95 x6.8)."""
    import asyncio

    from explorer.app.admission import FairSlots, Policy

    p = Policy(cores=2)
    for _ in range(3):
        assert p.heavy_allowed("s:script")
    assert p.heavy_allowed("s:student") and p.heavy_allowed("s:late")
    p.refused_client("s:late")
    assert p.priority("s:student") < p.priority("s:script") < p.priority("s:late")

    async def order() -> list[str]:
        slots, granted = FairSlots(1), []
        await slots.acquire(0)  # the slot is busy

        async def wait(who: str) -> None:
            await slots.acquire(p.priority(who))
            granted.append(who)
            slots.release()

        tasks = []
        for who in ("s:late", "s:script", "s:student"):  # in this order of arrival
            tasks.append(asyncio.create_task(wait(who)))
            await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*tasks)
        return granted

    assert asyncio.run(order()) == ["s:student", "s:script", "s:late"]


def test_files_over_the_byte_budget_wait_their_turn_in_arrival_order():
    """Files beyond the byte budget wait, first come first served, each until the budget has paid for the
    ones before it (no refusal, and no waiter polling the event loop: one sleeps, the rest queue)."""
    import asyncio
    import time

    from fastapi.routing import APIRoute

    from explorer.app.admission import Admission, Bucket, Policy, admitted

    policy = Policy(cores=2)
    policy.declare([APIRoute("/vx/file/{n}", lambda n: None, methods=["GET"], **admitted("file"))])
    policy.buckets["file"] = Bucket(20_000, 1_000)  # 1 kB at once, 20 kB/s
    served: list[int] = []

    async def app(scope, receive, send):
        served.append(int(scope["path"].rsplit("/", 1)[1]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 2_000})  # 0.1 s of the budget

    async def noop(message):
        pass

    async def main() -> float:
        t0, tasks = time.perf_counter(), []
        for n in range(6):  # six clients (addresses), in this order of arrival
            scope = {"type": "http", "method": "GET", "path": f"/vx/file/{n}", "headers": [],
                     "client": (f"127.0.0.{n + 1}", 5000)}
            tasks.append(asyncio.create_task(Admission(app, policy)(scope, None, noop)))
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        return time.perf_counter() - t0

    took = asyncio.run(main())
    assert served == list(range(6))
    assert 0.45 <= took < 2.0, took  # five files paid for after the first: 5 x 0.1 s, then the debt of the last
    assert policy.waiting["file"] == 0 and policy.refused[503] == 0


def test_log_pxs_lanes_run_nicer_than_the_rest_of_the_server():
    """Bulk work (log p(x), thousands of samples a drawing) runs at a higher nice value than the threads
    that compute what a student waits on (step 6, the check): 20 scripts hammering log p(x) raised an
    innocent student's step p95 to x2.1-2.3 in some runs. The server's own lanes are made this way."""
    import asyncio
    import os
    import threading

    from fastapi.testclient import TestClient

    from explorer.app.batching import Batcher
    from explorer.app.routes import BULK_NICE
    from explorer.app.server import create_server
    from explorer.store.registry import ModelRegistry

    def nice_here(items):
        return [os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) for _ in items]

    async def both():
        return await Batcher(nice_here, nice=BULK_NICE).submit(0), await Batcher(nice_here).submit(0)

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert BULK_NICE >= 5 and asyncio.run(both()) == (min(19, base + BULK_NICE), base)
    with TestClient(create_server(ModelRegistry(read_served_model("mnist-z2")), cores=2)) as c:
        body = {"width": 40, "height": 40, "pixels": base64.b64encode(bytes([0] * 1000 + [255] * 600)).decode()}
        assert c.post("/api/models/mnist-z2/logpx", json=body).status_code == 200
        lanes = [t for t in threading.enumerate() if t.name.startswith("mnist-z2-logpx")]
        assert lanes and all(os.getpriority(os.PRIO_PROCESS, t.native_id) == min(19, base + BULK_NICE) for t in lanes)
