"""What a browser would post from a page's form, read from its HTML: the tests
without a browser submit exactly what the page offers, unchanged or with the
changes a person would type."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["posted_fields"]


class _FormReader(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.disabled_depth = 0  # open <fieldset disabled> elements
        self.fields: dict[str, str] = {}
        self.textarea: str | None = None
        self.text = ""
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.option: tuple[str | None, bool] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.in_form = a.get("id") == self.form_id
            return
        if not self.in_form:
            return
        if tag == "fieldset":
            if self.disabled_depth or "disabled" in a:
                self.disabled_depth += 1
            return
        name = a.get("name")
        if self.disabled_depth or "disabled" in a:
            return
        if tag == "input" and name and a.get("type") not in ("file", "button", "submit"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields[name] = a.get("value") or ""
        elif tag == "textarea" and name:
            self.textarea, self.text = name, ""
        elif tag == "select" and name:
            self.select, self.options = name, []
        elif tag == "option" and self.select:
            self.option = (a.get("value"), "selected" in a)
            self.text = ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None or self.option is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        elif tag == "fieldset" and self.disabled_depth:
            self.disabled_depth -= 1
        elif tag == "textarea" and self.textarea is not None:
            # a browser drops one line break right after <textarea>
            text = self.text[1:] if self.text.startswith("\n") else self.text
            self.fields[self.textarea] = text.replace("\n", "\r\n")  # and posts CRLF
            self.textarea = None
        elif tag == "option" and self.option is not None:
            value, selected = self.option
            self.options.append((self.text if value is None else value, selected))
            self.option = None
        elif tag == "select" and self.select is not None:
            chosen = [v for v, selected in self.options if selected] or [self.options[0][0]]
            self.fields[self.select] = chosen[-1]
            self.select = None


def posted_fields(html: str, form_id: str = "credential-form") -> dict[str, str]:
    """The fields the form ``form_id`` of ``html`` posts as it stands."""
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.fields
