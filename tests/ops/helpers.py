"""Helpers of the operations tests: submit a Django admin form as a browser would."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _FormParser(HTMLParser):
    """Collects what a browser would submit from the page's forms (the last form wins a name)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._select_values: list[str] = []
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if "__prefix__" in name:
            return
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self.data.setdefault(name, []).append(a.get("value", default))
        elif tag == "select" and name:
            self._select, self._select_values, self._select_first = name, [], None
        elif tag == "option" and self._select is not None:
            if self._select_first is None:
                self._select_first = a.get("value", "")
            if "selected" in a:
                self._select_values.append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            self.data[self._select] = self._select_values
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea][-1] += data


def admin_form(client: Any, url: str) -> dict[str, Any]:
    """The admin page's form as POST data (single values unpacked) to change and send back."""
    response = client.get(url)
    assert response.status_code == 200, url
    parser = _FormParser()
    parser.feed(response.content.decode())
    return {k: v[0] if len(v) == 1 else v for k, v in parser.data.items()}


def admin_save(client: Any, url: str, **changes: Any) -> Any:
    """Load the admin change form at ``url``, apply ``changes`` and save it (asserts success)."""
    data = admin_form(client, url)
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(url, data)
    assert response.status_code == 302, _errors(response)
    return response


def _errors(response: Any) -> str:
    context = response.context or {}
    errors = [str(context["adminform"].form.errors)] if "adminform" in context else []
    for inline in context.get("inline_admin_formsets", []):
        errors.append(f"{inline.formset.prefix}: {inline.formset.errors}")
    return f"{response.status_code}: " + "; ".join(errors)
