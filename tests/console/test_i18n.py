"""No page is half translated: both languages hold the same words, and every word a
template asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

import axis.console
from axis.console.i18n import TEXTS
from axis.console.navigation import NAVIGATION
from axis.storage.models import Role
from schemas.events import EventType

TEMPLATES = Path(axis.console.__file__).parent / "templates"
CONSOLE = Path(axis.console.__file__).parent
KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""")


def test_both_languages_have_the_same_keys() -> None:
    assert set(TEXTS["vi"]) == set(TEXTS["en"])
    for lang in TEXTS.values():
        assert all(text.strip() for text in lang.values())


def test_every_key_a_template_or_page_uses_exists() -> None:
    used = set()
    for path in [*TEMPLATES.glob("*.html"), *CONSOLE.rglob("*.py")]:
        if path.name != "i18n.py":
            used |= set(KEY.findall(path.read_text()))
    used |= {entry.label for entry in NAVIGATION}
    used |= {f"role_{role.value}" for role in Role}
    assert used, "the pattern finds nothing: the test would pass vacuously"
    assert used - set(TEXTS["vi"]) == set()


def test_the_placeholders_match_between_languages() -> None:
    for key, vietnamese in TEXTS["vi"].items():
        fields = set(re.findall(r"\{(\w+)\}", vietnamese))
        assert fields == set(re.findall(r"\{(\w+)\}", TEXTS["en"][key])), key


def test_every_event_type_has_a_name_on_the_audit_pages() -> None:
    names = {f"audit_event_{type.value.replace('.', '_')}" for type in EventType}
    assert names - set(TEXTS["vi"]) == set()
