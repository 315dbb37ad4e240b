"""URL state for an explorer whose parameters live on settings sub-objects.

``Explorer.sync_url`` (ui/base.py) reads and watches ``url_params`` on the explorer
itself; an explorer built from settings classes (``workbench.<topic>.settings``) holds
them on sub-objects. ``SettingsURL`` is the same round trip -- restore from the query
string now, write it back once the user pauses (``Explorer.URL_DELAY_MS``), a hand-edited
link applied as far as it can be -- over the objects ``url_sources()`` returns. Generic:
meant to be lifted into ui/base.py.
"""

from __future__ import annotations

import json

import panel as pn


class SettingsURL:
    """Mixin for an ``Explorer``: ``url_params`` are looked up on ``url_sources()`` (the
    first object that has the parameter), then on the explorer itself."""

    def url_sources(self) -> list:
        return []

    def _url_owner(self, name: str):
        for obj in self.url_sources():
            if name in obj.param:
                return obj
        return self

    def sync_url(self) -> None:
        loc = pn.state.location
        if not self.url_params or loc is None:
            return
        self._restore_from_url(loc.query_params)
        self._url_pending = False
        self._write_url()
        by_owner: dict = {}
        for name in self.url_params:
            by_owner.setdefault(id(owner := self._url_owner(name)), (owner, []))[1].append(name)
        for owner, names in by_owner.values():
            owner.param.watch(self._on_url_param, names)

    def _restore_from_url(self, query: dict) -> None:
        updates: dict = {}
        for name in self.url_params:
            if name not in query:
                continue
            owner, value = self._url_owner(name), query[name]
            try:
                value = owner.param[name].deserialize(value)
            except Exception:  # noqa: BLE001 - parse_query already decoded JSON values
                pass
            if value != getattr(owner, name):
                updates.setdefault(id(owner), (owner, {}))[1][name] = value
        bad = []
        for owner, values in updates.values():
            try:
                owner.param.update(**values)
                continue
            except Exception:  # noqa: BLE001 - a hand-edited link must not break the page
                pass
            for name, value in values.items():  # apply what can be applied, one by one
                try:
                    setattr(owner, name, value)
                except Exception as exc:  # noqa: BLE001
                    bad.append(f"{name}={value!r} ({exc})")
        if bad:
            self.show_error("Some link parameters could not be applied: " + "; ".join(bad))

    def _url_query(self) -> dict[str, str]:
        query = {}
        for name in self.url_params:
            owner = self._url_owner(name)
            value = getattr(owner, name)
            if value is None:
                continue
            try:
                value = owner.param[name].serialize(value)
            except Exception:  # noqa: BLE001
                pass
            query[name] = value if isinstance(value, str) else json.dumps(value)
        return query


__all__ = ["SettingsURL"]
