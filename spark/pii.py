"""PII detectors: value patterns, column-name hints and the confidence rule, in pure Python and as Spark SQL.

Each detector has a Python predicate (``detector.matches(value)``) and the same test as a Spark SQL boolean expression
(``detector.sql(expr)``) built only from built-in functions, so a scan needs no Python UDF. Both read the same regular
expressions (written in the subset shared by Python's ``re`` and Java's ``java.util.regex``) and apply them with
search semantics (``re.search`` / ``rlike``) to a value with its leading and trailing spaces removed.

Detectors (fideslang-style category keys):

- ``email`` → ``user.contact.email``: ``local@domain.tld``, dot-atom local part, labels without edge hyphens,
  Latin letters beyond ASCII allowed (internationalised addresses).
- ``phone`` → ``user.contact.phone_number``: E.164 (``+`` or ``00``, 8-15 digits), trunk-prefixed national numbers
  (``0`` then 9-12 digits in all) and North American numbers (``(212) 555-0199``, ``212-555-0199``, bare ten
  digits with valid area and exchange codes); separators `` ().-/`` and an extension are allowed; dates and dotted
  quads are not phones.
- ``ip_address`` → ``user.device.ip_address``: IPv4 with octets 0-255 (no leading zeros) and IPv6 (full, compressed,
  IPv4-embedded).
- ``credit_card`` → ``user.financial.credit_card``: 13-19 digits (spaces or dashes allowed), a card network's first
  digit (2-6) and a valid Luhn checksum.
- ``iban`` → ``user.financial.bank_account``: country code, check digits, the registered length for the country and
  ISO 7064 mod-97 = 1.
- ``date_of_birth`` → ``user.demographic.date_of_birth``: a calendar date (ISO, ``dd/mm/yyyy``, ``mm/dd/yyyy``,
  ``dd.mm.yyyy``) between 120 and 13 years before the scan; date columns only when their name suggests a birth date.
- ``address`` → ``user.contact.address``: street lines (``12 Oak Street``, ``Hauptstraße 12``, ``12 rue Pasteur``,
  ``Via Roma, 12``, ``Rua Augusta 5``).
- ``person_name`` → ``user.name``: one to four capitalised words whose first word is a known first name or whose
  last word is a known family name.

Confidence (0-1) combines the evidence of the values with the column name, as a noisy OR::

    values     = specificity * min(1, ratio / FULL_RATIO) * n / (n + SAMPLE_PRIOR)
    confidence = 1 - (1 - values) * (1 - HINT_WEIGHT if the name hints at the category else 1)

so a name alone gives ``HINT_WEIGHT`` (low), 95% valid e-mail addresses give ~0.99, and a handful of values counts for
less than thousands. A column is flagged for a category when ``ratio ≥ threshold``; the weak detectors (dates of
birth, person names: many ordinary values look like them) also need a name hint or a majority of matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypedDict

FULL_RATIO = 0.8
SAMPLE_PRIOR = 10
HINT_WEIGHT = 0.3
WEAK_WITHOUT_HINT = 0.5
DEFAULT_THRESHOLD = 0.1

# --- SQL helpers -------------------------------------------------------------------------------------------------


def sql_string(text: str) -> str:
    """A Spark SQL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_identifier(name: str) -> str:
    """A Spark SQL column reference in backticks."""
    return "`" + name.replace("`", "``") + "`"


def sql_let(value: str, name: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value`` evaluated once (a one-element ``transform``)."""
    return f"element_at(transform(array({value}), {name} -> {body}), 1)"


def rlike(expr: str, pattern: str) -> str:
    return f"({expr} RLIKE {sql_string(pattern)})"


def strip(value: str) -> str:
    """What Spark's ``trim`` removes: spaces only."""
    return value.strip(" ")


def tokens(column: str) -> list[str]:
    """A column name as lower-case words: ``dateOfBirth``/``date_of_birth`` → ``['date', 'of', 'birth']``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


# --- patterns ----------------------------------------------------------------------------------------------------

_LATIN = "À-ÖØ-öø-ÿ"  # Latin-1 letters: in names, streets and internationalised e-mail addresses
_ATOM = rf"[A-Za-z{_LATIN}0-9!#$%&'*+/=?^_`{{|}}~-]+"
_LABEL = rf"[A-Za-z{_LATIN}0-9](?:[A-Za-z{_LATIN}0-9-]{{0,61}}[A-Za-z{_LATIN}0-9])?"
EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_H = r"[0-9A-Fa-f]{1,4}"
_V4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
IPV6 = (
    r"^(?:"
    rf"(?:{_H}:){{7}}{_H}"
    rf"|(?:{_H}:){{1,7}}:"
    rf"|(?:{_H}:){{1,6}}:{_H}"
    rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}"
    rf"|:(?:(?::{_H}){{1,7}}|:)"
    rf"|(?:{_H}:){{6}}{_V4}"
    rf"|::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_V4}"
    rf"|(?:{_H}:){{1,5}}:{_V4}"
    r")$"
)

PHONE_EXTENSION = r"(?i)[ ]*(?:x|ext\.?|#)[ ]*[0-9]{1,6}$"
PHONE_START = r"^[+0-9(]"
PHONE_SHAPE = r"^(?:\+|00)?[0-9(][0-9 ().\-/]{5,22}[0-9]$"
PHONE_NOT = r"^[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}$|^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$"
PHONE_INTERNATIONAL = r"^(?:\+|00)[ (]*[1-9]"
PHONE_TRUNK = r"^\(?0[1-9]"
PHONE_NANP = r"^(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)|[2-9][0-9]{2})[ .\-]?[2-9][0-9]{2}[ .\-]?[0-9]{4}$"

CARD_SHAPE = r"^[0-9]{4}[ \-]?(?:[0-9][ \-]?){8,14}[0-9]$"
CARD_DIGITS = r"^[2-6][0-9]{12,18}$"
CARD_SEPARATORS = r"[ \-]"

IBAN_SHAPE = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"
IBAN_CANDIDATE = r"^[A-Za-z][A-Za-z0-9 ]{14,}$"  # implied by IBAN_SHAPE once spaces are removed
# ISO 13616 registry: the length of an IBAN by country.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

DATE_YMD = r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?Z?)?$"
DATE_XYY = r"^([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})$"
BIRTH_MIN_YEARS = 120
BIRTH_MAX_YEARS = 13

_LETTER = f"A-Za-z{_LATIN}"
_APOSTROPHES = "'\u2019"
_WORD = rf"[{_LETTER}0-9.{_APOSTROPHES}\-]+"
STREET_TYPES = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|square|sq|terrace|way|parkway|"
    "pkwy|highway|hwy|circle|cir|crescent|close|trail|row|alley|plaza|loop|crossing|walk|gardens|grove|mews|"
    "parade|esplanade|quay|wharf|hill|heights|park|green|rise|view|vale|gate|yard|wynd|broadway"
)
STREET_SUFFIXES = (
    "straße|strasse|str\\.|weg|gasse|allee|platz|ring|damm|ufer|chaussee|steig|pfad|"
    "straat|laan|gracht|plein|kade|singel|dijk|"
    "katu|tie|kuja|polku|"
    "vej|gade|gatan|vägen|gränd|veien|gata"
)
STREET_PREFIXES = (
    "rue|avenue|av\\.|boulevard|bd|place|allée|allee|chemin|impasse|quai|cours|route|"
    "calle|c/|avenida|avda\\.?|paseo|plaza|carrer|camino|ronda|"
    "via|viale|piazza|corso|largo|vicolo|"
    "rua|travessa|praça|estrada|alameda|"
    "ulica|ul\\."
)
ADDRESS_PATTERNS: tuple[str, ...] = (
    # 12 Oak Street, 12B Upper Park Rd., 4-6 High St, Apt 3
    rf"(?i)^[0-9]{{1,6}}[A-Za-z]?(?:-[0-9]{{1,6}})?,?[ ]+(?:{_WORD}[ ]+){{0,5}}(?:{STREET_TYPES})\.?(?:[ ,]|$)",
    # Hauptstraße 12, Kerkstraat 7a, Mannerheimintie 3 B
    rf"(?i)^(?:{_WORD}[ ]+){{0,3}}[{_LETTER}\-]*(?:{STREET_SUFFIXES})[ ]+[0-9]{{1,5}}[A-Za-z]?(?:[ ,\-/]|$)",
    # 12 rue Pasteur, 12, avenue de la République, 3 bis rue ...
    rf"(?i)^[0-9]{{1,5}}(?:[ ]?(?:bis|ter))?,?[ ]+(?:{STREET_PREFIXES})[ ]+[{_LETTER}]",
    # Via Roma, 12 / Calle Mayor 5 / Rua Augusta 120
    rf"(?i)^(?:{STREET_PREFIXES})[ ]+(?:{_WORD}[ ]+){{0,5}}{_WORD},?[ ]+[0-9]{{1,5}}[A-Za-z]?(?:[ ,/\-]|$)",
)
ADDRESS = "|".join(f"(?:{p.removeprefix('(?i)')})" for p in ADDRESS_PATTERNS)
ADDRESS = "(?i)" + ADDRESS

_NAME_WORD = rf"[A-ZÀ-ÖØ-Þ][{_LETTER}]*(?:[{_APOSTROPHES}\-][{_LETTER}]+)*"
_PARTICLES = r"(?:(?:[Vv][ao]n|[Dd][eiau]|[Dd]el|[Dd]e[nr]|[Ll][ae]|[Tt]er)[ ]+)*"
NAME_SHAPE = rf"^{_PARTICLES}{_NAME_WORD}(?:[ ]+{_PARTICLES}{_NAME_WORD}){{0,3}}$"


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES: frozenset[str] = frozenset(
    _words(
        """
    aaron abigail adam adrian agnes aidan aino alba albert alejandro alex alexander alexandra alexandre alfred
    alice alicia alina alison amanda amelia amy ana anastasia andrea andreas andrew andré angela angelo anita
    ann anna anne annika anthony antoine antonio arthur ashley aurora ava barbara beatrice beatriz ben benjamin
    bernard beth betty bianca bram brandon brian bruno camille carl carla carlos carmen carol caroline carolina
    catarina catherine charles charlotte chiara chloé chloe chris christian christina christine christopher
    claire clara claudia colin daan daniel daniela danielle david deborah denise diana diego dimitri dominic
    donald donna dorothy duarte dylan edward eetu eino elena elias elisa elizabeth ella ellen emil emilia emily
    emma eric erik ethan eva eve evelyn fabian felix fernando finn fleur francesca francesco francisco frank
    franziska frederik gabriel gabriele gary george georg giorgia giulia giuseppe gonçalo grace greta gregory
    hanna hannah hans harry heather heinz helen helena helmi henry hugo ian inês ines irene isabel isabella
    isabelle ivan jack jacob jade jakob james jan jana jane janet jason javier jean jennifer jeremy jessica joan
    joanna joe johan johanna john jonas jonathan jorge joris josé joseph josephine joshua juan judith jules
    julia julian julie juliette justin jürgen karen karl katharina katherine kathleen kelly kenneth kevin kim
    laura lauren lauri laurent lea leo leon leonardo leonor levi liam lina linda lisa lorenzo lotte louis louise
    lucas lucía lucia luca luis luke lukas lena léa léo madison manon marco marcus margaret margaux maria marie
    marina mario mark marta martin martina mary mathis matilde matteo matthew matthias max maximilian megan
    melissa mia michael michelle miguel mikko milan mila nathan nerea nicholas nicola nicole niklas noah noor
    nora oliver olivia oscar pablo patricia patrick paul paula pedro peter philip pierre pietro rachel raphaël
    rebecca richard riccardo rita robert roberto rodrigo ruben ruth ryan samuel sandra santiago sara sarah scott
    sean sebastian sem sergio sofia sofía sophia sophie stefan stefano stephanie stephen steven susan sven tess
    theo théo thijs thomas tiago timothy tobias tom tomás tommaso tyler valentina valeria victor victoria
    vincent william yasmin zoe zoé
    """
    )
)

LAST_NAMES: frozenset[str] = frozenset(
    _words(
        """
    adams allen almeida alonso alves anderson bailey baker bakker barbieri bauer becker bell bernard bertrand
    berg bianchi boer bos brooks brouwer brown bruno campbell carter carvalho clark colombo conti cook cooper
    correia costa cox davies davis dekker díaz diaz dijk dijkstra dubois durand edwards esposito evans ferrari
    fernandes fernández fernandez ferreira fischer fisher fontana foster fournier gallo garcía garcia garnier
    gomes gómez gomez gonçalves gonzález gonzalez graaf gray greco green groot hall harris hartmann heikkinen
    hendriks hernández hernandez hill hoffmann hofmann hughes jackson jansen janssen jiménez jimenez johnson
    jones jong kelly king klein koch korhonen koskinen krüger laine lambert laurent lee leeuwen lefèvre lefebvre
    lehmann leroy lewis lombardi lopes lópez lopez marchand marino marques martin martínez martinez martins
    meijer mendes mercier meyer michel miller mitchell moore morel moreau moreno moretti morris müller mueller
    muñoz murphy nelson neumann nguyen nieminen o'brien oliveira parker perez pérez peters petit phillips pinto
    ricci richard richter rizzo roberts robinson rodrigues rodríguez rodriguez romano romero rossi roux ruiz
    russo sánchez sanchez santos schäfer schmidt schmitt schneider schröder schulz schwarz scott silva simon
    smit smith sousa stewart taylor thomas thompson torres turner vázquez vincent virtanen visser vos vries
    wagner walker ward watson weber white wilson wit wolf wood wright young zimmermann
    """
    )
)

# --- detectors ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detector:
    """One kind of personal data: how values and column names reveal it, and how strongly."""

    key: str
    category: str
    label: str  # completes "N% of M sampled values are …"
    hint_label: str  # completes "column name suggests …"
    specificity: float  # how strongly matching values alone imply the category
    weak: bool  # ordinary values often match: flag only with a name hint or a majority of matches
    hinted: Callable[[list[str]], bool]
    python: Callable[[str, date], bool]
    spark: Callable[[str, date], str]
    dates: bool = False  # also applies to date and timestamp columns whose name hints at it

    def matches(self, value: str, today: date) -> bool:
        """Whether one value (as stored; spaces around it are ignored) matches."""
        text = strip(value)
        return bool(text) and self.python(text, today)

    def sql(self, expr: str, today: date) -> str:
        """The same test as a Spark SQL boolean expression over a trimmed, non-empty string expression."""
        return self.spark(expr, today)

    def hints(self, column: str) -> bool:
        """Whether the column name suggests this category."""
        return self.hinted(tokens(column))


def _has(words: list[str], *wanted: str) -> bool:
    return any(w in words for w in wanted)


# e-mail

_EMAIL_RE = re.compile(EMAIL)


def _email(value: str, today: date) -> bool:
    return len(value) <= 254 and bool(_EMAIL_RE.search(value))


def _email_sql(v: str, today: date) -> str:
    return f"(length({v}) <= 254 AND {rlike(v, EMAIL)})"


# phone

_PHONE_EXTENSION_RE = re.compile(PHONE_EXTENSION)
_PHONE_RES = [re.compile(p) for p in (PHONE_SHAPE, PHONE_NOT, PHONE_INTERNATIONAL, PHONE_TRUNK, PHONE_NANP)]


def _phone(value: str, today: date) -> bool:
    shape, not_phone, international, trunk, nanp = _PHONE_RES
    number = _PHONE_EXTENSION_RE.sub("", value)
    if not shape.search(number) or not_phone.search(number) or number.count("(") != number.count(")"):
        return False
    digits = re.sub(r"[^0-9]", "", number)
    if international.search(number):
        national = digits[2:] if number.startswith("00") else digits
        return 8 <= len(national) <= 15
    if trunk.search(number):
        return 9 <= len(digits) <= 12
    return bool(nanp.search(number))


def _phone_sql(v: str, today: date) -> str:
    # Plain expressions rather than a lambda binding: the cheap first test rejects most values before the rest runs.
    n = f"regexp_replace({v}, {sql_string(PHONE_EXTENSION)}, '')"
    digits = f"length(regexp_replace({n}, '[^0-9]', ''))"
    balanced = f"length({n}) - length(replace({n}, '(', '')) = length({n}) - length(replace({n}, ')', ''))"
    return (
        f"({rlike(v, PHONE_START)} AND {rlike(n, PHONE_SHAPE)} AND NOT {rlike(n, PHONE_NOT)} AND {balanced} AND "
        f"CASE WHEN {rlike(n, PHONE_INTERNATIONAL)} "
        f"THEN {digits} - (CASE WHEN substr({n}, 1, 2) = '00' THEN 2 ELSE 0 END) BETWEEN 8 AND 15 "
        f"WHEN {rlike(n, PHONE_TRUNK)} THEN {digits} BETWEEN 9 AND 12 "
        f"ELSE {rlike(n, PHONE_NANP)} END)"
    )


# IP address

_IP_RES = [re.compile(IPV4), re.compile(IPV6)]


def _ip(value: str, today: date) -> bool:
    return any(p.search(value) for p in _IP_RES)


def _ip_sql(v: str, today: date) -> str:
    return f"({rlike(v, IPV4)} OR {rlike(v, IPV6)})"


# payment card


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


_CARD_RES = [re.compile(CARD_SHAPE), re.compile(CARD_DIGITS)]


def _card(value: str, today: date) -> bool:
    shape, digits_only = _CARD_RES
    if not shape.search(value):
        return False
    digits = re.sub(CARD_SEPARATORS, "", value)
    return bool(digits_only.search(digits)) and luhn(digits)


def luhn_sql(d: str) -> str:
    """The Luhn check of a digit string expression, with ``aggregate`` over its positions (no UDF)."""
    digit = f"(ascii(substr({d}, _i, 1)) - 48)"
    doubled = f"(CASE WHEN {digit} > 4 THEN {digit} * 2 - 9 ELSE {digit} * 2 END)"
    step = f"_acc + CASE WHEN (length({d}) - _i) % 2 = 1 THEN {doubled} ELSE {digit} END"
    return f"(aggregate(sequence(1, length({d})), 0, (_acc, _i) -> {step}) % 10 = 0)"


def _card_sql(v: str, today: date) -> str:
    d = "_card"
    check = sql_let(
        f"regexp_replace({v}, {sql_string(CARD_SEPARATORS)}, '')", d, f"({rlike(d, CARD_DIGITS)} AND {luhn_sql(d)})"
    )
    return f"({rlike(v, CARD_SHAPE)} AND coalesce({check}, false))"


# IBAN


def iban_valid(value: str) -> bool:
    """ISO 13616: shape, the country's registered length and mod-97 of the rearranged number = 1."""
    iban = value.replace(" ", "").upper()
    if not re.search(IBAN_SHAPE, iban) or IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    remainder = 0
    for char in iban[4:] + iban[:4]:
        number = int(char, 36)
        remainder = (remainder * (10 if number < 10 else 100) + number) % 97
    return remainder == 1


def _iban(value: str, today: date) -> bool:
    return iban_valid(value)


def _iban_sql(v: str, today: date) -> str:
    s, r = "_iban", "_rearranged"
    lengths = ", ".join(f"'{k}', {n}" for k, n in sorted(IBAN_LENGTHS.items()))
    char = f"substr({r}, _i, 1)"
    number = f"(CASE WHEN {char} < 'A' THEN ascii({char}) - 48 ELSE ascii({char}) - 55 END)"
    step = f"(_acc * (CASE WHEN {number} < 10 THEN 10 ELSE 100 END) + {number}) % 97"
    mod97 = sql_let(
        f"concat(substr({s}, 5), substr({s}, 1, 4))",
        r,
        f"aggregate(sequence(1, length({r})), 0, (_acc, _i) -> {step}) = 1",
    )
    body = (
        f"({rlike(s, IBAN_SHAPE)} AND coalesce(element_at(map({lengths}), substr({s}, 1, 2)) = length({s}), false) "
        f"AND {mod97})"
    )
    # The shape test on the raw value keeps the lambda binding (interpreted, not compiled) to likely candidates.
    compact = f"upper(replace({v}, ' ', ''))"
    return f"({rlike(v, IBAN_CANDIDATE)} AND {sql_let(compact, s, body)})"


# date of birth


def birth_range(today: date) -> tuple[date, date]:
    """The dates of birth considered plausible on ``today``: 120 down to 13 years before it."""

    def years_before(years: int) -> date:
        try:
            return today.replace(year=today.year - years)
        except ValueError:  # 29 February
            return today.replace(year=today.year - years, day=28)

    return years_before(BIRTH_MIN_YEARS), years_before(BIRTH_MAX_YEARS)


_DATE_RES = [re.compile(DATE_YMD), re.compile(DATE_XYY)]


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dob(value: str, today: date) -> bool:
    low, high = birth_range(today)
    ymd, xyy = _DATE_RES
    candidates: list[date | None] = []
    if found := ymd.search(value):
        year, month, day = (int(g) for g in found.groups())
        candidates.append(_date_or_none(year, month, day))
    elif found := xyy.search(value):
        first, second, year = (int(g) for g in found.groups())
        candidates += [_date_or_none(year, second, first), _date_or_none(year, first, second)]
    return any(c is not None and low <= c <= high for c in candidates)


def _valid_date_sql(year: str, month: str, day: str) -> str:
    """A date from integer expressions, or null when they are no calendar date (never an error, also under ANSI)."""
    return (
        f"CASE WHEN {year} BETWEEN 1 AND 9999 AND {month} BETWEEN 1 AND 12 AND {day} >= 1 "
        f"AND {day} <= day(last_day(make_date({year}, {month}, 1))) THEN make_date({year}, {month}, {day}) END"
    )


def _dob_sql(v: str, today: date) -> str:
    low, high = birth_range(today)

    def group(pattern: str, index: int) -> str:
        return f"CAST(regexp_extract({v}, {sql_string(pattern)}, {index}) AS INT)"

    in_range = f"BETWEEN DATE'{low.isoformat()}' AND DATE'{high.isoformat()}'"
    iso = _valid_date_sql(group(DATE_YMD, 1), group(DATE_YMD, 2), group(DATE_YMD, 3))
    dmy = _valid_date_sql(group(DATE_XYY, 3), group(DATE_XYY, 2), group(DATE_XYY, 1))
    mdy = _valid_date_sql(group(DATE_XYY, 3), group(DATE_XYY, 1), group(DATE_XYY, 2))
    return (
        f"(CASE WHEN {rlike(v, DATE_YMD)} THEN coalesce({iso} {in_range}, false) "
        f"WHEN {rlike(v, DATE_XYY)} THEN coalesce({dmy} {in_range}, false) OR coalesce({mdy} {in_range}, false) "
        f"ELSE false END)"
    )


# postal address

_ADDRESS_RE = re.compile(ADDRESS)


def _address(value: str, today: date) -> bool:
    return bool(_ADDRESS_RE.search(value))


def _address_sql(v: str, today: date) -> str:
    return rlike(v, ADDRESS)


# person name

_NAME_RE = re.compile(NAME_SHAPE)


def _name(value: str, today: date) -> bool:
    if not _NAME_RE.search(value):
        return False
    words = value.lower().split(" ")
    words = [w for w in words if w]
    return words[0] in FIRST_NAMES or words[-1] in LAST_NAMES or words[0] in LAST_NAMES


def _name_sql(v: str, today: date) -> str:
    firsts = ", ".join(sql_string(n) for n in sorted(FIRST_NAMES))
    lasts = ", ".join(sql_string(n) for n in sorted(LAST_NAMES))
    # The value is trimmed, so its first and last words are the text before the first and after the last space.
    first, last = f"lower(substring_index({v}, ' ', 1))", f"lower(substring_index({v}, ' ', -1))"
    return f"({rlike(v, NAME_SHAPE)} AND ({first} IN ({firsts}) OR {last} IN ({lasts}) OR {first} IN ({lasts})))"


# column-name hints


def _hint_email(w: list[str]) -> bool:
    return _has(w, "email", "mail", "emailaddress")


def _hint_phone(w: list[str]) -> bool:
    return _has(w, "phone", "telephone", "tel", "mobile", "cell", "msisdn", "fax", "landline")


def _hint_ip(w: list[str]) -> bool:
    return _has(w, "ip", "ipv4", "ipv6", "ipaddress") or (_has(w, "remote", "client") and _has(w, "addr", "address"))


def _hint_card(w: list[str]) -> bool:
    return _has(w, "pan", "cc", "creditcard", "ccnumber") or (_has(w, "card") and _has(w, "number", "no", "num"))


def _hint_iban(w: list[str]) -> bool:
    return (
        _has(w, "iban")
        or (_has(w, "bank") and _has(w, "account"))
        or (_has(w, "account") and _has(w, "number", "no", "nr"))
    )


def _hint_dob(w: list[str]) -> bool:
    return _has(w, "dob", "birth", "birthday", "birthdate", "bday", "born")


def _hint_address(w: list[str]) -> bool:
    if _has(w, "ip", "email", "mail", "mac", "remote", "client", "web", "url", "wallet"):
        return False
    return _has(w, "street", "address", "addr", "line1", "line2", "residence")


def _hint_name(w: list[str]) -> bool:
    if _has(w, "firstname", "lastname", "surname", "fullname", "forename", "givenname", "familyname", "maiden"):
        return True
    return _has(w, "name") and _has(w, "first", "last", "full", "given", "family", "middle", "customer", "contact")


DETECTORS: tuple[Detector, ...] = (
    Detector("email", "user.contact.email", "valid e-mail addresses", "e-mail", 0.99, False, _hint_email,
             _email, _email_sql),
    Detector("phone", "user.contact.phone_number", "phone numbers", "a phone number", 0.85, False, _hint_phone,
             _phone, _phone_sql),
    Detector("ip_address", "user.device.ip_address", "valid IP addresses", "an IP address", 0.95, False, _hint_ip,
             _ip, _ip_sql),
    Detector("credit_card", "user.financial.credit_card", "Luhn-valid payment card numbers", "a card number", 0.97,
             False, _hint_card, _card, _card_sql),
    Detector("iban", "user.financial.bank_account", "valid IBANs", "a bank account", 0.99, False, _hint_iban,
             _iban, _iban_sql),
    Detector("date_of_birth", "user.demographic.date_of_birth", "dates in a plausible birth range",
             "a date of birth", 0.7, True, _hint_dob, _dob, _dob_sql, dates=True),
    Detector("address", "user.contact.address", "street addresses", "an address", 0.85, False, _hint_address,
             _address, _address_sql),
    Detector("person_name", "user.name", "person names", "a person's name", 0.7, True, _hint_name,
             _name, _name_sql),
)  # fmt: skip
BY_KEY: dict[str, Detector] = {d.key: d for d in DETECTORS}


# --- evidence → finding ------------------------------------------------------------------------------------------


def confidence(detector: Detector, *, matched: int, sampled: int, hinted: bool) -> float:
    """The noisy-OR of value evidence and the name hint (see the module docstring)."""
    ratio = matched / sampled if sampled else 0.0
    values = detector.specificity * min(1.0, ratio / FULL_RATIO) * sampled / (sampled + SAMPLE_PRIOR)
    return round(1 - (1 - values) * ((1 - HINT_WEIGHT) if hinted else 1.0), 3)


def flagged(detector: Detector, *, ratio: float, hinted: bool, threshold: float) -> bool:
    """Whether a column is flagged for the detector's category."""
    if ratio < threshold or ratio == 0:
        return False
    return not detector.weak or hinted or ratio >= WEAK_WITHOUT_HINT


def percent(ratio: float) -> str:
    """A ratio for people: ``97%``, ``<1%``, ``100%`` only when all matched."""
    if ratio >= 1:
        return "100%"
    if ratio == 0:
        return "0%"
    if ratio < 0.01:
        return "<1%"
    return f"{min(99, math.floor(ratio * 100 + 1e-9))}%"


def reason(detector: Detector, *, matched: int, sampled: int, hinted: bool) -> str:
    """A one-sentence explanation with counts only (never a value)."""
    hint = f"column name suggests {detector.hint_label}"
    if sampled == 0:
        return f"no non-empty values sampled; {hint}" if hinted else "no non-empty values sampled"
    evidence = f"{percent(matched / sampled)} of {sampled:,} sampled values are {detector.label}"
    if matched == 0 and hinted:
        return f"{evidence}; only the {hint}"
    return f"{evidence}; {hint}" if hinted else evidence


class Finding(TypedDict):
    """The evidence for one column and one detector (counts, never values)."""

    category: str
    detector: str
    matched: int
    sampled: int
    ratio: float
    name_hint: bool
    confidence: float
    flagged: bool
    reason: str


def finding(detector: Detector, *, matched: int, sampled: int, hinted: bool, threshold: float) -> Finding:
    """The JSON-ready evidence for one column and one detector."""
    ratio = matched / sampled if sampled else 0.0
    return {
        "category": detector.category,
        "detector": detector.key,
        "matched": matched,
        "sampled": sampled,
        "ratio": round(ratio, 4),
        "name_hint": hinted,
        "confidence": confidence(detector, matched=matched, sampled=sampled, hinted=hinted),
        "flagged": flagged(detector, ratio=ratio, hinted=hinted, threshold=threshold),
        "reason": reason(detector, matched=matched, sampled=sampled, hinted=hinted),
    }
