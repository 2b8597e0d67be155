"""Every ``/api`` answer is declared field by field (explorer.app.answers): the real server's answers, on a
plain and on the conditional model, validate against their models, which forbid undeclared fields; the
declared routes send what the Python function computed, no field dropped; the OpenAPI schema names a model
for every JSON answer."""

import base64
import time

import numpy as np
import pytest
from pydantic import TypeAdapter

from explorer.app import answers as A

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from explorer.app.server import create_server
    from explorer.store.registry import ModelRegistry, read_served_model

    app = create_server(ModelRegistry(read_served_model("mnist-z2")), cores=2)
    with TestClient(app, headers={"Origin": "http://testserver"}) as c:
        yield c


def seven() -> dict:
    img = np.zeros((40, 40), np.uint8)
    img[6:10, 8:32] = 255
    img[10:34, 24:28] = 255
    return {"width": 40, "height": 40, "pixels": base64.b64encode(img.tobytes()).decode(), "k": 4, "seed": 5}


def ask(c, method: str, path: str, **kw):
    """The answer's JSON; a heavy route's rate limit (429) is waited out as the page waits it out."""
    for _ in range(8):
        r = c.request(method, path, **kw)
        if r.status_code != 429:
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
            return r.json()
        time.sleep(float(r.headers["Retry-After"]))
    raise AssertionError(f"{path}: still refused")


def valid(model, answer):
    """``answer`` validated strictly (an undeclared field fails); returns the validated value."""
    return TypeAdapter(model).validate_python(answer)


@pytest.mark.parametrize("name", ["mnist-z2", "mnist-cvae-z16"])
def test_every_answer_validates_against_its_declared_model(client, name):
    base, label = f"/api/models/{name}", ({"label": 3} if "cvae" in name else {})
    assert valid(A.Warm, ask(client, "POST", f"{base}/warm")).ready
    enc = ask(client, "POST", f"{base}/encode", json=seven())
    e = valid(A.Encoded, enc)
    assert len(e.z) == 4 and len(e.pixel_nats) == 784
    assert (e.label_probs is not None) == ("cvae" in name)  # the conditional model's fields, and only there
    d = len(e.loc)
    assert valid(A.LogPx, ask(client, "POST", f"{base}/logpx", json={**seven(), "k": 50})).k == 50
    s = valid(A.Stepped, ask(client, "POST", f"{base}/step", json={**seven(), **label}))
    assert len(s.image_after) == 784 and s.encoder and s.decoder
    ch = valid(A.Checked, ask(client, "POST", f"{base}/check", json={**seven(), "z": enc["z"], **label}))
    assert ch.losses and (ch.log_py is not None) == ("cvae" in name)
    single = ask(client, "POST", f"{base}/check", json={**seven(), "k": 1, "z": enc["z"][:1], **label})
    assert valid(A.Checked, single).elbo_se is None  # the s.e. of one sample is sent as null
    assert valid(A.Interpolated, ask(client, "POST", f"{base}/interpolate",
                                     json={"a": [0.0] * d, "b": [1.0] * d, **label})).n >= 2
    assert valid(A.Traversed, ask(client, "POST", f"{base}/traverse", json={"z": [0.0] * d, **label})).dims
    assert valid(A.PriorSamples, ask(client, "GET", f"{base}/prior", params=label)).n > 0
    assert valid(A.Digit, ask(client, "GET", f"{base}/digit/3")).index == 3
    if "cvae" not in name:
        assert len(valid(A.Decoded, ask(client, "GET", f"{base}/decode", params={"x": 0.0, "y": 0.0})).image) == 784
    blank = {**seven(), "pixels": base64.b64encode(bytes(1600)).decode()}
    assert valid(A.Blank, ask(client, "POST", f"{base}/encode", json=blank)).blank


def test_the_servers_own_answers_validate_too(client):
    models = valid(A.Models, ask(client, "GET", "/api/models"))
    assert len(models.models) >= 6 and all(isinstance(m, A.ModelSummary) for m in models.models)
    health = valid(A.Health, ask(client, "GET", "/api/health"))
    assert health.ok and health.models_loaded >= 1
    assert valid(A.Ok, ask(client, "POST", "/api/bye", json={"session": "tab1"})).ok
    ask(client, "POST", "/api/models/mnist-z2/encode", json=seven())
    assert valid(dict[str, A.BatchStats], ask(client, "GET", "/api/batches"))["mnist-z2/encode"].items >= 1
    live = valid(A.LiveState, ask(client, "GET", "/api/live"))
    assert live.how and live.run is None and not live.running  # no run yet: nothing started
    stale = {**seven(), "session": "tab2", "seq": 1}
    ask(client, "POST", "/api/models/mnist-z2/encode", json={**stale, "seq": 2})
    assert valid(A.Stale, ask(client, "POST", "/api/models/mnist-z2/encode", json=stale)).stale


def test_a_declared_route_sends_every_field_the_python_function_computed(client):
    from explorer.constants import TRAVERSE_ROWS, TRAVERSE_SPAN
    from explorer.store.registry import read_served_model
    from explorer.views import decoding, tools

    m = read_served_model("mnist-z2")
    assert ask(client, "GET", "/api/models/mnist-z2/prior", params={"n": 5, "seed": 9}) == \
        decoding.prior_samples(m, 5, 9, None)
    assert ask(client, "POST", "/api/models/mnist-z2/traverse", json={"z": [0.5, -0.5], "steps": 5}) == \
        tools.traverse(m, [0.5, -0.5], 5, TRAVERSE_SPAN, TRAVERSE_ROWS, None, None)
    assert ask(client, "GET", "/api/models/mnist-z2/digit/11") == decoding.digit_info(m, 11)


def test_the_openapi_schema_names_a_model_for_every_json_answer(client):
    spec = client.app.openapi()
    api = {(p, verb): op for p, ops in spec["paths"].items() if p.startswith("/api") for verb, op in ops.items()}
    assert len(api) >= 18
    files = {"/api/models/{name}/map.csv", "/api/live/stream"}
    for (path, verb), op in api.items():
        if path in files:
            continue
        ok = op["responses"].get("200") or op["responses"].get("202")
        schema = ok["content"]["application/json"]["schema"]
        refs = [s.get("$ref") or s.get("additionalProperties", {}).get("$ref") for s in schema.get("anyOf", [schema])]
        assert all(refs), (verb, path, schema)
    assert set(spec["components"]["schemas"]["Encoded"]["properties"]) >= {"loc", "scale", "eps", "elbo", "kl_dims"}
