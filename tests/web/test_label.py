"""`atu label`: the marking server's API (in process, on an ephemeral port, over raw HTTP), the
folder it works in, the command's refusals, and the page end to end in headless Chromium.

Tiny models (16 px, width 8); the expected marks and pixels come from independent computations
(draw_bank, predict, load_bundle, PIL decoding), not from the server's own answers.
"""

import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from atu.classifiers import LeNet, load_classifier, predict, save_classifier
from atu.cli import build_parser
from atu.cli import main as atu_main
from atu.commands.label import check_arguments, open_session
from atu.feedback import draw_bank, load_bundle, save_bundle, uint8_to_images
from atu.label import BANK_NAME, FEEDBACK_NAME, make_server
from atu.models import Discriminator, Generator, narrow_channels
from label_process import label_process
from tiny_classifiers import half_in_class_1
from tiny_gans import save_pretrained

SIZE, STYLE_DIM = 16, 16
CHANNELS = narrow_channels(SIZE, 8)
N, SEED, PAGE_SIZE = 20, 3, 8
LABELS = ["plain", "odd", "never"]


def _generator(seed: int) -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Generator(SIZE, STYLE_DIM, n_mlp=2, channels=CHANNELS).eval()


def _save_generator(path: Path, G: Generator) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        D = Discriminator(SIZE, channels=CHANNELS)
    save_pretrained(path, G, D)
    return path


@pytest.fixture(scope="module")
def G():
    return _generator(0)


@pytest.fixture(scope="module")
def bank(G):
    """The bank every test expects: drawn here, independently of atu label."""
    return draw_bank(G, N, SEED)


@pytest.fixture(scope="module")
def gen_file(tmp_path_factory, G):
    return _save_generator(tmp_path_factory.mktemp("gen") / "tiny_gen.safetensors", G)


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory, bank):
    """A LeNet that puts half of the bank in class 1 ("odd") and none in class 2."""
    model = half_in_class_1(bank.images, SIZE)
    path = tmp_path_factory.mktemp("cls") / "tiny_classifier.safetensors"
    save_classifier(path, model, {"label_names": LABELS})
    return path


def _label_args(gen_file, out, *extra):
    return build_parser().parse_args(
        ["label", "--gen", str(gen_file), "--n", str(N), "--seed", str(SEED), "--out", str(out)]
        + ["--page-size", str(PAGE_SIZE), "--device", "cpu", *map(str, extra)]
    )


def _open(gen_file, out, *extra):
    """What `atu label` does before serving: check the arguments, then draw or reopen DIR."""
    return open_session(check_arguments(_label_args(gen_file, out, *extra)))


@contextmanager
def serving(session):
    server = make_server(session, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def request(server, method, path, body=None, headers=None):
    """(status, headers, body bytes), over a raw connection: the path goes out exactly as written,
    with no client-side normalisation of dot segments or escapes."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        sent = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _state(server):
    status, _, body = request(server, "GET", "/api/state")
    assert status == 200
    return json.loads(body)


def _marked(path) -> list[int]:
    return torch.nonzero(load_bundle(path).undesired).flatten().tolist()


# ---- the API ----------------------------------------------------------------------------------------


def test_state_and_page(tmp_path, gen_file):
    with serving(_open(gen_file, tmp_path / "dir")) as server:
        assert _state(server) == {
            "n": N,
            "undesired": [],
            "page_size": PAGE_SIZE,
            "resolution": SIZE,
            "unsaved": False,
            "saved_before": False,
            "feedback_file": FEEDBACK_NAME,
            "pre_marked_by": None,
        }
        status, headers, page = request(server, "GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        # Nothing leaves the machine: no absolute URLs in the page, and a policy that forbids them.
        assert b"http://" not in page and b"https://" not in page and b"//cdn" not in page
        assert "default-src 'none'" in headers["Content-Security-Policy"]
    # only this machine, unless --host says otherwise
    assert build_parser().parse_args(["label", "--out", str(tmp_path)]).host == "127.0.0.1"


def test_images_are_the_banks_pixels_as_png(tmp_path, gen_file, bank):
    from PIL import Image

    with serving(_open(gen_file, tmp_path / "dir")) as server:
        for index in range(N):
            status, headers, body = request(server, "GET", f"/img/{index}.png")
            assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"
            decoded = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
            assert np.array_equal(decoded, bank.images[index].permute(1, 2, 0).numpy()), index


def test_marks_and_save_write_the_bundle(tmp_path, gen_file, bank):
    out = tmp_path / "dir"
    with serving(_open(gen_file, out)) as server:
        status, _, body = request(server, "POST", "/api/marks", {"undesired": [7, 0, 3]})
        assert status == 200 and json.loads(body)["undesired"] == [0, 3, 7] and json.loads(body)["unsaved"]
        assert not (out / FEEDBACK_NAME).exists()  # marks are kept in memory until Save
        status, _, body = request(server, "POST", "/api/save", {})
        assert status == 200 and json.loads(body) == {"file": FEEDBACK_NAME, "n": N, "n_undesired": 3}
        saved = load_bundle(out / FEEDBACK_NAME)
        assert _marked(out / FEEDBACK_NAME) == [0, 3, 7] and not _state(server)["unsaved"]
        assert torch.equal(saved.latents, bank.latents) and torch.equal(saved.images, bank.images)
        labeller = saved.metadata["labeller"]
        assert labeller["kind"] == "marks" and labeller["tool"] == "atu label" and labeller["n_marked"] == 3
        assert labeller["bank_file"]["sha256"] == hashlib.sha256((out / BANK_NAME).read_bytes()).hexdigest()
        assert saved.metadata["sampling"]["seed"] == SEED and saved.metadata["counts"]["undesired"] == 3
        # a Save may carry the marks itself; none marked is saved too, with a warning
        status, _, body = request(server, "POST", "/api/save", {"undesired": []})
        assert status == 200 and "no sample is marked undesired" in json.loads(body)["warning"]
        assert _marked(out / FEEDBACK_NAME) == []


def _bad_requests(n):
    """(method, path, body, headers, status) for requests that must be refused."""
    marks = "/api/marks"
    not_found = [
        f"/img/{n}.png",
        "/img/-1.png",
        "/img/01.png",
        "/img/1.5.png",
        "/img/abc.png",
        "/img/1",
        "/img/99999999999999999999.png",
        "/img/../../etc/passwd",
        "/img/%2e%2e/%2e%2e/etc/passwd",
        "/img/..%2f..%2fetc%2fpasswd",
        "/../../etc/passwd",
        "/%2e%2e/pyproject.toml",
    ]
    bad_marks = [
        {"undesired": [n]},
        {"undesired": [-1]},
        {"undesired": ["3"]},
        {"undesired": [1.5]},
        {"undesired": [True]},
        {"undesired": [2, 2]},
        {"undesired": 3},
        {"undesired": None},
        {"undesired": ["../../etc/passwd"]},
        {"marks": [1]},
        {"undesired": [1], "path": "/tmp/x"},
        {},
        [1, 2],
        '{"undesired": [1,',
        '{"undesired": [NaN]}',
        b"\xff\xfe",
        "",
    ]
    return [
        *[("GET", path, None, None, 404) for path in not_found],
        *[("POST", marks, body, None, 400) for body in bad_marks],
        ("GET", "/api/save", None, None, 405),
        ("POST", marks, '{"undesired": [1]}', {"Content-Type": "text/plain"}, 415),
        ("POST", marks, json.dumps({"undesired": list(range(n))}) + " " * 5000, None, 413),
        ("POST", "/api/save", {"undesired": [n + 5]}, None, 400),
        ("POST", "/api/save", '{"undesired": [1] ', None, 400),
        ("POST", "/api/save", {"undesired": [1]}, {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("POST", "/img/1.png", {"undesired": [1]}, None, 405),
        ("POST", "/api/../api/save", {"undesired": [1]}, None, 405),
        ("POST", "/elsewhere", {"undesired": [1]}, None, 404),
        ("GET", "/api/state", None, {"Host": "attacker.example"}, 403),
        ("POST", "/api/save", {"undesired": [1]}, {"Host": "attacker.example:80"}, 403),
    ]


def test_bad_requests_are_refused_and_change_nothing(tmp_path, gen_file):
    out = tmp_path / "dir"
    with serving(_open(gen_file, out)) as server:
        assert request(server, "POST", "/api/save", {"undesired": [4, 9]})[0] == 200
        bundle = out / FEEDBACK_NAME
        before = (bundle.read_bytes(), bundle.stat().st_mtime_ns, sorted(os.listdir(out)))
        for method, path, body, headers, expected in _bad_requests(N):
            status, answer_headers, answer = request(server, method, path, body, headers)
            assert status == expected, (method, path, body, status, answer)
            assert answer_headers["Content-Type"] == "application/json" and json.loads(answer)["error"], path
            assert (bundle.read_bytes(), bundle.stat().st_mtime_ns, sorted(os.listdir(out))) == before, path
            assert _state(server)["undesired"] == [4, 9], (method, path, body)


def test_rapid_concurrent_saves_leave_a_loadable_bundle(tmp_path, gen_file):
    out = tmp_path / "dir"
    choices = [[i, (i + 5) % N] for i in range(12)]
    with serving(_open(gen_file, out)) as server:
        answers = []

        def save(marks):
            answers.append(request(server, "POST", "/api/save", {"undesired": marks})[0])

        threads = [threading.Thread(target=save, args=(marks,)) for marks in choices]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert answers == [200] * len(choices)
        saved = _marked(out / FEEDBACK_NAME)
        assert saved in [sorted(c) for c in choices] and saved == _state(server)["undesired"]
    assert sorted(os.listdir(out)) == [BANK_NAME, FEEDBACK_NAME]  # no temporary files left


# ---- the folder: drawn once, reopened, pre-marked ---------------------------------------------------


def test_an_attribute_classifier_pre_marks_its_class_1_without_class(tmp_path, gen_file, bank):
    """`--classifier` alone, as the issue writes it: a two-class (attribute) classifier implies class 1."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = LeNet(num_classes=2, channels=(4, 4), hidden=8, resolution=SIZE).eval()
    with torch.no_grad():
        scores = model(uint8_to_images(bank.images))
        model.head.bias[1] += (scores[:, 0] - scores[:, 1]).median()  # about half the bank in class 1
    path = save_classifier(tmp_path / "attribute.safetensors", model)
    session = _open(gen_file, tmp_path / "dir", "--classifier", path)
    expected = torch.nonzero(predict(load_classifier(path), uint8_to_images(bank.images)) == 1).flatten()
    assert session.marks() == expected.tolist() and 0 < len(expected) < N


def test_reopening_restores_the_saved_marks(tmp_path, gen_file, classifier_file):
    out = tmp_path / "dir"
    with serving(_open(gen_file, out)) as server:
        request(server, "POST", "/api/save", {"undesired": [2, 5, 11]})
    bank_bytes = (out / BANK_NAME).read_bytes()
    # --n and --seed may be left out (they are the bank's); the bank is not redrawn
    reopened = open_session(
        check_arguments(
            build_parser().parse_args(
                ["label", "--out", str(out), "--device", "cpu", "--classifier", str(classifier_file), "--class", "1"]
            )
        )
    )
    assert reopened.marks() == [2, 5, 11] and not reopened.unsaved  # saved marks win over pre-marks
    assert reopened.state()["saved_before"] and (out / BANK_NAME).read_bytes() == bank_bytes


def test_classifier_pre_marks_are_its_predictions(tmp_path, gen_file, classifier_file, bank):
    out = tmp_path / "dir"
    session = _open(gen_file, out, "--classifier", classifier_file, "--class", "odd")
    expected = torch.nonzero(predict(load_classifier(classifier_file), uint8_to_images(bank.images)) == 1).flatten()
    assert session.marks() == expected.tolist() and 0 < len(expected) < N
    state = session.state()
    assert state["unsaved"] and state["pre_marked_by"] == "tiny_classifier.safetensors, class odd"
    assert not (out / FEEDBACK_NAME).exists()  # pre-marks are a proposal until the person saves
    session.save()
    labeller = load_bundle(out / FEEDBACK_NAME).metadata["labeller"]
    assert labeller["tool"] == "atu label"
    assert labeller["pre_marked_by"]["sha256"] == hashlib.sha256(classifier_file.read_bytes()).hexdigest()


def test_the_command_serves_until_interrupted(tmp_path, gen_file):
    out = tmp_path / "dir"
    with label_process(["--gen", gen_file, "--n", 6, "--out", out, "--device", "cpu"], cwd=tmp_path) as label:
        assert label.url.startswith("http://127.0.0.1:")
        connection = http.client.HTTPConnection("127.0.0.1", label.port, timeout=10)
        connection.request("GET", "/api/state")
        assert json.loads(connection.getresponse().read())["n"] == 6
        connection.close()
    assert label.returncode == 0 and "stopped" in label.err
    assert load_bundle(out / BANK_NAME).latents.shape[0] == 6 and not (out / FEEDBACK_NAME).exists()


def _refusals(tmp_path, gen_file, classifier_file, G):
    """(arguments, words in the error) for every refusal `atu label` makes before writing anything."""
    drawn = tmp_path / "drawn"  # a folder holding the bank of (gen_file, N, SEED)
    drawn.mkdir()
    save_bundle(drawn / BANK_NAME, draw_bank(G, N, SEED, generator_file=gen_file))
    mismatched = tmp_path / "mismatched"  # a bank and marks on other samples
    shutil.copytree(drawn, mismatched)
    save_bundle(mismatched / FEEDBACK_NAME, draw_bank(G, N, SEED + 1))
    orphan = tmp_path / "orphan"  # marks without their bank
    orphan.mkdir()
    save_bundle(orphan / FEEDBACK_NAME, draw_bank(G, N, SEED))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / BANK_NAME).write_bytes(b"not a bank")
    other_gen = _save_generator(tmp_path / "other_gen.safetensors", _generator(7))
    (tmp_path / "a_file").write_text("x")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    fresh = tmp_path / "fresh"
    base = ["--gen", gen_file, "--n", N, "--seed", SEED, "--device", "cpu"]
    cases = [
        (["--gen", tmp_path / "missing.safetensors", "--out", fresh], "--gen"),
        (["--gen", classifier_file, "--out", fresh], "no section 'g_ema'"),
        ([*base, "--n", 0, "--out", fresh], "argument --n: must be an integer from 1 to 10,000,000, got 0"),
        ([*base, "--page-size", 0, "--out", fresh], "argument --page-size: must be an integer from 1"),
        ([*base, "--truncation", 2, "--out", fresh], "--truncation must be in (0, 1]"),
        ([*base, "--port", 70000, "--out", fresh], "--port must be in 0..65535"),
        ([*base, "--port", busy.getsockname()[1], "--out", fresh], "cannot listen on 127.0.0.1 port"),
        ([*base, "--out", tmp_path / "a_file"], "is not a folder"),
        ([*base, "--classifier", classifier_file, "--out", fresh], "--classifier goes with --class"),
        ([*base, "--classifier", classifier_file, "--class", 3, "--out", fresh], "class '3' is not one of"),
        ([*base, "--classifier", gen_file, "--class", 1, "--out", fresh], "not a classifier"),
        ([*base, "--seed", SEED + 1, "--out", drawn], f"it has --seed {SEED}, not {SEED + 1}"),
        ([*base, "--n", N + 1, "--out", drawn], f"it has --n {N}, not {N + 1}"),
        (["--gen", other_gen, "--out", drawn], "drawn from another generator"),
        ([*base, "--out", mismatched], "holds marks on other samples"),
        ([*base, "--out", orphan], "but no bank.safetensors"),
        ([*base, "--out", broken], "cannot be read"),
    ]
    return cases, busy


def test_command_refuses_bad_input_before_writing(tmp_path, capsys, monkeypatch, gen_file, classifier_file, G):
    def no_drawing(*args, **kwargs):
        raise AssertionError("drew a bank despite bad input")

    cases, busy = _refusals(tmp_path, gen_file, classifier_file, G)
    monkeypatch.setattr("atu.commands.feedback.draw_bank", no_drawing)  # atu label draws through it
    try:
        for args, message in cases:
            listing = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
            try:
                status = atu_main(["label", *map(str, args)])
            except SystemExit as exit_:  # refused by the argument parser (a count out of range)
                status = exit_.code
            assert status == 2, args
            err = capsys.readouterr().err
            assert err.strip().splitlines()[-1].startswith("atu label: error:") and message in err, (args, err)
            assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == listing, args
    finally:
        busy.close()
    # the same folder, asked for what it holds, opens
    assert open_session(check_arguments(_label_args(gen_file, tmp_path / "drawn"))).n == N


# ---- the page in a real browser ---------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _browser():
    """A headless Chromium driven through the system chromedriver. Skips when the browser or
    selenium is missing, unless ATU_REQUIRE_BROWSER is set (CI sets it: there, missing is a failure)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install '.[test]')")
    if missing:
        why = f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("ATU_REQUIRE_BROWSER"):
            pytest.fail(why + "; ATU_REQUIRE_BROWSER is set")
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1000,800",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def test_browser_marks_saves_and_restores(tmp_path, gen_file):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "dir"
    driver = _browser()
    wait = WebDriverWait(driver, 15)

    def load(url):
        driver.get(url)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")

    def tile(index):
        return driver.find_element(By.CSS_SELECTOR, f'.tile[data-id="{index}"]')

    def shown_marks():
        return sorted(
            int(t.get_attribute("data-id"))
            for t in driver.find_elements(By.CSS_SELECTOR, ".tile")
            if t.get_attribute("aria-pressed") == "true"
        )

    def keys(*pressed):
        ActionChains(driver).send_keys(*pressed).perform()

    def saved_status(count):
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(f"Saved {count} undesired"))

    try:
        with serving(_open(gen_file, out)) as server:
            load(server.url)
            assert len(driver.find_elements(By.CSS_SELECTOR, ".tile")) == PAGE_SIZE
            tile(1).click()
            tile(4).click()
            assert shown_marks() == [1, 4]
            # visibly: the page's red frame, not only an attribute
            frame = driver.execute_script("return getComputedStyle(arguments[0]).borderTopColor", tile(1))
            assert (
                frame
                == "rgb(198, 40, 40)"
                != driver.execute_script("return getComputedStyle(arguments[0]).borderTopColor", tile(0))
            )
            keys("n")  # next page: samples 8..15
            wait.until(lambda d: tile(10))
            tile(10).click()
            assert driver.find_element(By.ID, "counter").text == f"3 undesired of {N}"
            driver.find_element(By.ID, "save").click()
            saved_status(3)
            assert _marked(out / FEEDBACK_NAME) == [1, 4, 10]

            driver.refresh()  # the page comes back on page 2
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
            assert shown_marks() == [10]
            keys(Keys.PAGE_UP)
            wait.until(lambda d: tile(0))
            assert shown_marks() == [1, 4]

            # the keyboard alone: turning the page focused its first sample, 0
            keys(Keys.ARROW_RIGHT)
            assert driver.switch_to.active_element.get_attribute("data-id") == "1"
            keys(Keys.SPACE)  # unmarks 1
            keys(Keys.ARROW_RIGHT, Keys.ENTER)  # marks 2
            keys("s")
            saved_status(3)
            assert _marked(out / FEEDBACK_NAME) == [2, 4, 10] and shown_marks() == [2, 4]
            origin = server.url.rstrip("/")
            fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
            assert fetched and all(url.startswith(origin) for url in fetched), fetched
            errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert errors == [], errors  # no script errors, no failed requests

        # a new server on the same folder (a restart of atu label): the page shows the saved marks
        with serving(_open(gen_file, out)) as server:
            load(server.url)
            assert shown_marks() == [2, 4] and driver.find_element(By.ID, "counter").text == f"3 undesired of {N}"
    finally:
        driver.quit()


@pytest.fixture
def server(tmp_path, gen_file):
    with serving(_open(gen_file, tmp_path / "dir")) as running:
        yield running


def test_a_body_shorter_than_its_length_times_out_instead_of_holding_a_thread(server, monkeypatch):
    from atu.label.server import LabelRequestHandler

    monkeypatch.setattr(LabelRequestHandler, "timeout", 0.5)
    hung = []
    for _ in range(3):  # clients that promise 100 bytes and send 2
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(
            f"POST /api/marks HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{}".encode()
        )
        hung.append(s)
    for s in hung:
        answer = s.recv(4096).decode()
        assert answer.startswith("HTTP/1.0 408") or answer.startswith("HTTP/1.1 408"), answer
        s.close()
    assert _state(server)["n"] > 0  # and the server still answers


def _read_to_close(s: socket.socket) -> str:
    """Everything the server sends until it closes the connection (an HTTP/1.0 answer may arrive in
    several packets: the headers first, the body after)."""
    parts = []
    while chunk := s.recv(4096):
        parts.append(chunk)
    return b"".join(parts).decode()


def test_a_request_without_host_is_refused(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET /api/state HTTP/1.0\r\n\r\n")
    answer = _read_to_close(s)
    s.close()
    assert " 400 " in answer.splitlines()[0] and "a Host header is required" in answer


def test_a_post_from_another_origin_is_refused_and_changes_nothing(server):
    before = _state(server)
    status, _, body = request(
        server, "POST", "/api/marks", {"undesired": [0, 1]}, headers={"Origin": "http://evil.example"}
    )
    assert status == 403 and b"another origin" in body
    assert _state(server) == before
    status, _, _ = request(
        server, "POST", "/api/marks", {"undesired": [0]}, headers={"Origin": f"http://127.0.0.1:{server.port}"}
    )
    assert status == 200 and _state(server)["undesired"] == [0]


@pytest.mark.parametrize("length", ["²", "¹²", "-1", "1e3", ""])
def test_a_content_length_that_is_not_ascii_digits_is_answered_411(server, length):
    """Before: 'Content-Length: ²' passed str.isdigit(), int() raised, the client got no answer."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(
        f"POST /api/marks HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n{{}}".encode("latin-1")
    )  # as headers are read
    answer = _read_to_close(s)
    s.close()
    assert answer.split("\r\n")[0].split(" ", 1)[1].startswith("411"), answer
    assert _state(server)["n"] > 0
