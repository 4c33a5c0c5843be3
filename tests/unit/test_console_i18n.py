"""Console languages: every console string has a Chinese translation; language choice; locale formats."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir

from openiiot.web.framework import TEMPLATES_DIR
from openiiot.web.i18n import Formatter, choose_language, parse_accept_language, translations


def _template_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(TEMPLATES_DIR),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True"}},
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_template_string_has_a_chinese_translation() -> None:
    messages = _template_messages()
    assert len(messages) > 100
    chinese = translations("zh-CN")
    missing = sorted(m for m in messages if chinese.gettext(m) == m)
    assert missing == []


def test_dynamic_words_are_translated_with_the_glossary() -> None:
    chinese = translations("zh-CN")
    assert chinese.gettext("critical") == "紧急"
    assert chinese.gettext("Acknowledge") == "确认"
    assert chinese.gettext("operator") == "操作员"
    assert chinese.gettext("Shelve") == "搁置"


def test_language_choice_order() -> None:
    assert choose_language(None, None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert choose_language(None, None, "fr-FR, zh-Hans;q=0.7, en;q=0.5") == "zh-CN"
    assert choose_language(None, None, "de, fr") == "en"
    assert choose_language("en", "zh-CN", "zh-CN") == "en"  # the switcher wins
    assert choose_language(None, "zh-CN", "en") == "zh-CN"  # then the user's setting
    assert choose_language("garbage!!", None, "q=;;,") == "en"
    assert parse_accept_language("en;q=0.1, zh;q=0.9, *;q=0.5") == ["zh", "en"]


def test_numbers_and_dates_follow_the_locale_and_time_zone() -> None:
    english = Formatter("en", "Asia/Shanghai")
    chinese = Formatter("zh-CN", "Asia/Shanghai")
    assert english.number(12345.678, 1) == "12,345.7"
    assert chinese.quantity(7.5, "bar", 2) == "7.50 bar"
    ts = 1_750_000_000_000  # 2025-06-15 15:06:40 UTC = 23:06:40 in Shanghai
    assert "11:06:40" in english.datetime(ts) and "PM" in english.datetime(ts)
    assert "2025年6月15日" in chinese.datetime(ts) and "23:06:40" in chinese.datetime(ts)
    assert chinese.age(ts - 180_000, ts) == "3分钟前"
    assert english.age(ts - 180_000, ts) == "3 minutes ago"
    assert english.number(None) == "—"
