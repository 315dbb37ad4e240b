"""URL state of an explorer: ``url_params`` round-trip through the page's query string,
so a link restores a view. A mixin of ``workbench.ui.base.Explorer`` (which supplies
``url_params``, ``show_error``); settings sub-objects hold their parameters under their
own names through the ``url_sources`` / ``_url_owner`` / ``_url_param`` hooks."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import panel as pn
import param

from workbench.ui.session import later


def link_value(parameter: param.Parameter, value: Any) -> Any:
    """A URL query value for `parameter`, decoded (Panel already decoded JSON values). A
    true/false given for a number is returned as a string, which the parameter refuses
    (param takes bools as the integers 1 and 0: ``?seed=true`` would open seed 1)."""
    try:
        value = parameter.deserialize(value)
    except Exception:  # noqa: BLE001 - parse_query already decoded JSON values
        pass
    if isinstance(value, bool) and isinstance(parameter, param.Number):
        return str(value).lower()
    return value


class URLState:
    """Query-string round trip for ``url_params`` (served pages only)."""

    URL_DELAY_MS: ClassVar[int] = 250

    def url_sources(self) -> list:
        """Parameterized sub-objects (settings) holding URL parameters under their own
        names; ``_url_owner`` looks there first, then on the explorer itself."""
        return []

    def _url_owner(self, name: str):
        """The object holding URL parameter `name` (the hook for settings sub-objects)."""
        return next((obj for obj in self.url_sources() if name in obj.param), self)

    def _url_param(self, name: str) -> str:
        """The parameter's name on its owner (the URL's name unless a subclass maps it)."""
        return name

    def _url_targets(self):
        """(URL name, owner, parameter name) for every ``url_params`` entry."""
        return [(n, self._url_owner(n), self._url_param(n)) for n in self.url_params]

    def sync_url(self) -> None:
        """Round-trip ``url_params`` through the page's query string (served pages only).

        The view is restored from the URL now. Later changes are written to the URL once
        the user pauses (``URL_DELAY_MS``), coalesced, off the path from a slider move to the
        redrawn plot: writing the query string with every change (Panel's
        ``location.sync``) added about 40 ms to each slider step in the latency harness."""
        loc = pn.state.location
        if not self.url_params or loc is None:
            return
        self._restore_from_url(loc.query_params)
        self._write_url()
        watched: dict = {}
        for _, owner, pname in self._url_targets():
            watched.setdefault(id(owner), (owner, []))[1].append(pname)
        for owner, names in watched.values():
            owner.param.watch(self._on_url_param, names)

    def _restore_from_url(self, query: dict) -> None:
        """Apply the query's values, sub-objects first, the explorer's own last; a value
        that cannot be set is named in the page's message and the others still apply."""
        updates: dict = {}
        bad = []
        for name, owner, pname in self._url_targets():
            if name not in query:
                continue
            p = owner.param[pname]
            value = link_value(p, query[name])
            if isinstance(p, param.Selector) and not p.check_on_set and not isinstance(value, str):
                # a list or a dict (JSON) joins the choices of a selector that takes any
                # value (choices known later, e.g. a table's columns): the page's Select
                # cannot be built from it ("unhashable type")
                bad.append(f"{pname}={value!r} (not one of the choices)")
                continue
            if value != getattr(owner, pname):
                updates.setdefault(id(owner), (owner, {}))[1][pname] = value
        for owner, values in sorted(updates.values(), key=lambda ov: ov[0] is self):
            try:
                owner.param.update(**values)
                continue
            except Exception:  # noqa: BLE001 - a hand-edited link must not break the page
                pass
            for pname, value in values.items():  # apply what can be applied, one by one
                try:
                    setattr(owner, pname, value)
                except Exception as exc:  # noqa: BLE001
                    bad.append(f"{pname}={value!r} ({exc})")
        if bad:
            self.show_error("Some link parameters could not be applied: " + "; ".join(bad))

    def _url_query(self) -> dict[str, str]:
        query = {}
        for name, owner, pname in self._url_targets():
            value = getattr(owner, pname)
            if value is None:
                continue
            try:
                value = owner.param[pname].serialize(value)
            except Exception:  # noqa: BLE001
                pass
            query[name] = value if isinstance(value, str) else json.dumps(value)
        return query

    def _write_url(self) -> None:
        self._url_pending = False
        loc = pn.state.location
        if loc is not None:
            loc.update_query(**self._url_query())

    def _on_url_param(self, *_events) -> None:
        if self._url_pending:
            return
        self._url_pending = True
        if not later(self._write_url, self.URL_DELAY_MS):
            self._url_pending = False

