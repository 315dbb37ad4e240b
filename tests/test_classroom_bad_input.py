"""Bad uploads in a real browser: a message in the page, no traceback, the plot stays.

For every dashboard with a file upload (apps/*.py whose source has a ``FileInput``, plus
the fixture dashboard in tests/fixtures/apps) and every upload widget on its page: upload
a pickle, a pickle disguised as ``.npy`` (object array), a ``.npy`` of the wrong shape and
a ``.npy`` holding NaN. Each must show a message naming the problem in the page's alert;
no "Traceback" or "Internal error" text may appear, the plotted data must not change, and
afterwards a slider still updates the plot (the session keeps working).

The session's server (tests/conftest.py ``server``) serves the fixture beside the apps.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from browser_utils import (
    alert_text,
    body_text,
    data_hash,
    press_slider,
    slider_handles,
    wait_for_change,
    wait_for_plot,
    wait_idle,
    wait_in_page,
)
from conftest import APPS
from helpers import nan_matrix, npy_bytes, object_npy_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "apps" / "fixture.py"
UPLOAD_APPS = [p for p in sorted(APPS.glob("*.py"))
               if not p.name.startswith("_") and "FileInput" in p.read_text()]

# A well-formed array for each app (the NaN file has this shape); default: a 40 x 30 matrix.
GOOD_SHAPE = {"fixture": (20, 2)}


def bad_files(app: str) -> list[tuple[str, str, bytes, re.Pattern]]:
    """(case, file name, bytes, pattern the message must match) for each bad upload."""
    shape = GOOD_SHAPE.get(app, (40, 30))
    cases = [
        ("pickle", "weights.pkl", pickle.dumps({"w": np.eye(3)}), re.compile(r"pickle", re.I)),
        ("pickle-in-npy", "weights.npy", object_npy_bytes(),
         re.compile(r"pickle|object", re.I)),
        ("wrong-shape", "weights.npy", npy_bytes(np.arange(10.0).reshape(2, 5, 1)),
         re.compile(r"shape|dimension|\bndim|[0-9]-d\b", re.I)),
        ("nan", "weights.npy", npy_bytes(nan_matrix(shape)), re.compile(r"nan|finite", re.I)),
    ]
    if app == "fixture":  # its upload limit is 1 MiB (the apps' is 512 MiB)
        cases.append(("too-large", "big.npy", npy_bytes(np.ones((80_000, 2))),
                      re.compile(r"limit|too large|MiB", re.I)))
    return cases


@pytest.fixture(scope="module")
def upload_server(server):
    """The session's server (tests/conftest.py ``server``: apps/ and the fixture
    dashboard), once the fixture and the upload apps answer."""
    for src in [FIXTURE, *UPLOAD_APPS]:
        server.wait("/" + src.stem, timeout=300)
    return server


def _wait_alert(page, pattern: re.Pattern, previous: str = "", timeout_s: float = 60.0) -> str:
    """Wait for an alert matching `pattern` that differs from `previous` (the alert shown
    before this upload, so a stale message cannot satisfy the wait); return its text."""
    return wait_in_page(page, lambda: alert_text(page),
                        until=lambda text: text != previous and pattern.search(text),
                        timeout=timeout_s * 1000,
                        what=f"a message matching {pattern.pattern!r} in the page's alert")


def _wait_alert_cleared(page, timeout_s: float = 30.0) -> None:
    wait_in_page(page, lambda: alert_text(page), until=lambda text: text.strip() == "",
                 timeout=timeout_s * 1000, what="the alert to go after a good file")


@pytest.mark.parametrize("app", ["fixture"] + [p.stem for p in UPLOAD_APPS])
def test_bad_uploads_give_a_message_and_keep_the_plot(upload_server, page, app):
    page.goto(f"{upload_server.base}/{app}")
    # the fixture's staircase (20 points beside the sine's 200) is its background result
    wait_for_plot(page, min_points=220 if app == "fixture" else 2)
    wait_idle(page)  # the first background results have landed
    inputs = page.locator("input[type=file]")
    assert inputs.count() >= 1, f"{app} has no upload widget"
    msg = ""
    for k in range(inputs.count()):
        for case, name, data, pattern in bad_files(app):
            before = data_hash(page)
            inputs.nth(k).set_input_files(
                files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])
            # the new message proves the server has handled this upload: anything its
            # handler changed in the plot was sent before the message; work it started in
            # the background has delivered once no progress bar shows
            msg = _wait_alert(page, pattern, previous=msg)
            wait_idle(page)
            text = body_text(page)
            assert "Traceback" not in text, (case, text[-2000:])
            assert "Internal error" not in msg, (case, msg)
            assert data_hash(page) == before, f"{app}: the plot changed after a bad {case}"
    # the session keeps working after the bad files: a slider still updates the plot
    assert slider_handles(page).count() >= 1, f"{app} has no slider"
    before = data_hash(page)
    press_slider(page, 0)
    wait_for_change(page, before, timeout=120_000)
    if app == "fixture":  # control: a good file is taken, the plot changes, the alert goes
        before = data_hash(page)
        good = np.column_stack([np.linspace(0, 1, 7), np.arange(7.0)])
        inputs.nth(0).set_input_files(
            files=[{"name": "good.npy", "mimeType": "application/octet-stream",
                    "buffer": npy_bytes(good)}])
        wait_for_change(page, before)
        _wait_alert_cleared(page)
    assert "Traceback" not in body_text(page)
    assert page.console_errors == [], page.console_errors
