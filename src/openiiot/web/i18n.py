"""Console languages: Babel catalogues compiled from the .po files at start-up, locale choice, formatting.

The .po files in `web/locales/` are the source; they are compiled in memory the first time a locale is
used, so neither users nor packagers run a compile step. Dates, numbers and durations are formatted by
Babel with the CLDR data of the chosen locale and shown in the tenant's time zone.
"""

from __future__ import annotations

import gettext
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

LOCALES_DIR = Path(__file__).parent / "locales"
#: the console's languages: the code used in URLs and cookies -> the name shown in the switcher
LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "简体中文"}
DEFAULT_LANGUAGE = "en"
_CATALOG_NAME = {"zh-CN": "zh_CN"}


@lru_cache(maxsize=8)
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of a language (English is the source language: no catalogue)."""
    folder = _CATALOG_NAME.get(language)
    if folder is None:
        return gettext.NullTranslations()
    po_path = LOCALES_DIR / folder / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=folder)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def normalise(code: str | None) -> str | None:
    """A supported language code for `code` ('zh', 'zh_CN', 'zh-Hans-CN' -> 'zh-CN'), or None."""
    if not code:
        return None
    try:
        locale = Locale.parse(code.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if locale.language == "zh" and locale.script in (None, "Hans") and locale.territory in (None, "CN", "SG"):
        return "zh-CN"
    if locale.language == "en":
        return "en"
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """Language ranges of an Accept-Language header, best first (RFC 9110 §12.5.4)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and math.isfinite(quality):
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def choose_language(cookie: str | None, user_locale: str | None, accept_language: str | None) -> str:
    """The language of a page: the switcher's choice, then the user's setting, then the browser's."""
    for candidate in (cookie, user_locale):
        chosen = normalise(candidate)
        if chosen:
            return chosen
    for tag in parse_accept_language(accept_language):
        chosen = normalise(tag)
        if chosen:
            return chosen
    return DEFAULT_LANGUAGE


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats values for one language and one time zone."""

    language: str
    timezone: str = "UTC"

    @property
    def babel_locale(self) -> str:
        """The Babel locale identifier."""
        return _CATALOG_NAME.get(self.language, self.language)

    def datetime(self, ts_ms: int | None, fmt: str = "medium") -> str:
        """A UTC millisecond instant in the time zone and the locale's date-time pattern."""
        if ts_ms is None:
            return "—"
        moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        return format_datetime(moment, fmt, tzinfo=_zone(self.timezone), locale=self.babel_locale)

    def age(self, ts_ms: int | None, now_ms: int) -> str:
        """How long ago, in words of the locale ('3 minutes' / '3分钟')."""
        if ts_ms is None:
            return "—"
        delta = -timedelta(milliseconds=max(0, now_ms - ts_ms))  # negative: in the past
        return format_timedelta(delta, threshold=1.0, locale=self.babel_locale, add_direction=True)

    def number(self, value: float | int | None, precision: int | None = None) -> str:
        """A number with the locale's separators and the precision the profile declares."""
        if value is None:
            return "—"
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if precision is None:
            return format_decimal(value, format="#,##0.###", locale=self.babel_locale)
        pattern = "#,##0" + ("." + "0" * precision if precision > 0 else "")
        return format_decimal(value, format=pattern, locale=self.babel_locale)

    def percent(self, ratio: float | None) -> str:
        """A ratio as a percentage ('—' when there is nothing to count yet)."""
        if ratio is None:
            return "—"
        return format_percent(ratio, format="#,##0.#%", locale=self.babel_locale)

    def minutes(self, seconds: float | None) -> str:
        """A duration in the locale's words ('42 minutes' / '42分钟'), for MTTA and MTTR."""
        if seconds is None:
            return "—"
        return format_timedelta(timedelta(seconds=seconds), threshold=1.0, locale=self.babel_locale)

    def quantity(self, value: float | None, unit: str, precision: int | None = None) -> str:
        """A value with its unit (SI symbols read the same in both languages)."""
        text = self.number(value, precision)
        return f"{text} {unit}".strip() if value is not None else text
