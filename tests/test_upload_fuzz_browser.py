"""Fuzzed uploads through the served dashboards' upload widgets, in headless Chromium.

For the low-rank and eigenspectra dashboards of `workbench serve` (the `server` fixture)
and every upload widget on their pages (found as ``input[type=file]`` only: the explorers'
insides are free to change): random bytes, a truncated .npy, an .npz whose member claims
100 GB, a safetensors header that lies about its offsets, complex and 5-d arrays, huge
values and a pickle. Each must show a new message in the page (never "Internal error" or a
traceback); afterwards a slider move still changes the plot, and the server's memory is
within 10 % of what it was before the uploads.
"""

from __future__ import annotations

import pickle

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
from helpers import npy_bytes, npz_bytes, raw_safetensors, zip_claiming

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APPS = ["lowrank", "eigenspectra"]


def fuzz_files() -> list[tuple[str, bytes]]:
    """(file name, bytes): each name distinct, so consecutive messages differ."""
    rng = np.random.default_rng(18)
    good = npy_bytes(np.arange(1200.0).reshape(40, 30) / 7)
    return [
        ("random-bytes.npy", rng.bytes(3000)),
        ("truncated.npy", good[: len(good) // 2]),
        ("bomb.npz", zip_claiming(100 * 10**9)),
        ("lying-header.safetensors",  # offsets past the end of the data
         raw_safetensors({"w": {"dtype": "F32", "shape": [40, 30],
                                "data_offsets": [0, 4800 * 100]}},
                         np.ones((40, 30), np.float32).tobytes())),
        ("complex.npy", npy_bytes(np.ones((40, 30)) * (1 + 2j))),
        ("five-d.npz", npz_bytes(five=np.ones((2, 2, 2, 2, 2)))),
        ("huge.npy", npy_bytes(np.full((40, 30), 1e308))),
        ("pickled.npy", pickle.dumps({"w": np.ones((40, 30))})),
    ]


@pytest.mark.parametrize("app", APPS)
def test_fuzzed_uploads_give_messages_and_the_session_keeps_working(server, page, app):
    page.goto(f"{server.base}/{app}")
    wait_for_plot(page, min_points=2)
    wait_idle(page)
    inputs = page.locator("input[type=file]")
    assert inputs.count() >= 1, f"{app} has no upload widget"
    rss0 = server.rss_kb()
    msg = alert_text(page)
    for k in range(inputs.count()):
        for name, data in fuzz_files():
            inputs.nth(k).set_input_files(
                files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])
            # a new message (each file's name differs, and so does what it is refused for)
            msg = wait_in_page(page, lambda: alert_text(page),
                               until=lambda text, prev=msg: text.strip() and text != prev,
                               timeout=60_000, what=f"a message for {name}")
            assert "Internal error" not in msg and "Traceback" not in msg, (name, msg)
            wait_idle(page)
    assert "Traceback" not in body_text(page)
    # the session keeps working: a slider still changes the plot
    assert slider_handles(page).count() >= 1, f"{app} has no slider"
    before = data_hash(page)
    press_slider(page, 0)
    wait_for_change(page, before, timeout=120_000)
    assert page.console_errors == [], page.console_errors
    rss1 = server.rss_kb()
    # the server process and its children; a zip bomb or a lying header that allocated
    # what it claims would show here (or kill the server)
    assert rss1 <= 1.10 * rss0, (rss0, rss1)
