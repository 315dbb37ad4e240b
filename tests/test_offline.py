"""Pages render offline: the HTML the server sends references no external host."""

from __future__ import annotations

import re
import urllib.request

import pytest
from conftest import app_files

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# URLs that only name XML namespaces are not fetched by the browser
_ALLOWED = ("http://www.w3.org/",)
_URL = re.compile(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']|url\(\s*["']?((?:https?:)?//[^)"']+)""")


def external_refs(html: str) -> list[str]:
    out = []
    for m in _URL.finditer(html):
        url = m.group(1) or m.group(2)
        if not url.startswith(_ALLOWED):
            out.append(url)
    return out


def test_external_refs_detector_finds_cdn_links():
    html = ('<link href="https://fonts.googleapis.com/css?family=X"><script src="//cdn.x/y.js">'
            '</script><img src="static/a.png"><svg xmlns="http://www.w3.org/2000/svg">')
    assert external_refs(html) == ["https://fonts.googleapis.com/css?family=X", "//cdn.x/y.js"]


@pytest.mark.parametrize("path", ["/"] + [f"/{p.stem}" for p in app_files()])
def test_served_html_has_no_external_host(server, path):
    with urllib.request.urlopen(server.base + path, timeout=120) as r:
        html = r.read().decode()
    assert len(html) > 500
    assert external_refs(html) == []
