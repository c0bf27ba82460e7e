"""PII detection: each detector's positive and negative values (in Python and, identically, as Spark SQL), column-name
hints and confidence, and a scan of a planted dataset whose summary, report and lineage carry no sampled value."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, StructField, StructType

from spark import pii
from spark.jobs import pii_scan
from spark.jobs.base import JobResult, base_parser, execute
from spark.paths import dataset_uri

TODAY = date(2026, 11, 1)

CASES: dict[str, tuple[list[str], list[str]]] = {
    "email": (
        ["anna.schmidt12@gmail.com", "j_smith+shop@mail.example.co.uk", "o'brien@eircom.net", " lea@web.de ",
         "jürgen.müller@gmx.de"],
        ["anna.schmidt12gmail.com", "a@@b.com", "a@gmail", "john smith@x.com", "a@b,com", "a..b@x.com", ".a@x.com"],
    ),
    "phone": (
        ["+12125551234", "+44 7700 900123", "0044 7700 900123", "(212) 555-0199", "212-555-0199", "212.555.0199",
         "2125550199", "030 1234567", "06 12 34 56 78", "+1-212-555-0199x123", "+49 (0)30 1234567"],
        ["12345", "2024-01-15", "15.01.2024", "192.168.1.10", "1234567890", "+0123456789", "555-0199", "C0000123",
         "4111 1111 1111 1111", "12/05/1985"],
    ),
    "ip_address": (
        ["192.168.1.10", "8.8.8.8", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a",  # noqa: S104
         "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.1", "::"],
        ["999.1.1.1", "256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "2001:db8:::1", "1::2::3", "gggg::1",
         "00:1A:2B:3C:4D:5E", "10:30:00"],
    ),
    "credit_card": (
        ["4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "6011111111111117",
         "3530111333300000"],
        ["4111111111111112", "5555555555554445", "1234567890123456", "0000000000000000", "411111111111",
         "4111 1111 1111 111a", "12345678901234567890"],
    ),
    "iban": (
        ["DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "FR1420041010050500013M02606", "NL91ABNA0417164300",
         "de89 3704 0044 0532 0130 00"],
        ["DE89370400440532013001", "DE88370400440532013000", "DE8937040044053201300", "XX89370400440532013000",
         "GB82WEST12345698765433"],
    ),
    "date_of_birth": (
        ["1985-03-12", "12/03/1985", "03/25/1990", "25.03.1990", "1970-01-01T00:00:00Z", "1999/12/31"],
        ["2024-01-15", "1985-02-30", "1850-01-01", "13/13/1985", "2020-01-01", "not a date", "1985-03-12 10:30:00"],
    ),
    "address": (
        ["12 Oak Street", "4-6 High St, Apt 3", "Hauptstraße 12", "Kerkstraat 7a", "Mannerheimintie 3",
         "12 rue Pasteur", "3 bis, avenue de la République", "Via Roma, 12", "Calle de Alcalá, 5", "Rua Augusta, 120",
         "1600 Pennsylvania Avenue NW", "221B Baker Street"],
        ["Oak Street", "Acme Premium Board Game X120", "New York", "12 apples", "Street art 12"],
    ),
    "person_name": (
        ["James", "JAMES", "O'Brien", "de Jong", "van den Berg", "Anna Schmidt", "Jean-Pierre Martin", "Müller",
         "Mary Ann Smith"],
        ["Acme Premium Board Game", "New York", "james", "Smartphone", "12 Oak Street", "Blue Cotton Shirt"],
    ),
}  # fmt: skip


def labelled(positive: bool) -> list[tuple[str, str]]:
    return [(key, value) for key, (yes, no) in CASES.items() for value in (yes if positive else no)]


# --- detectors in Python -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), labelled(True))
def test_detector_accepts(key: str, value: str) -> None:
    assert pii.BY_KEY[key].matches(value, TODAY)


@pytest.mark.parametrize(("key", "value"), labelled(False))
def test_detector_rejects(key: str, value: str) -> None:
    assert not pii.BY_KEY[key].matches(value, TODAY)


def test_no_positive_example_is_claimed_by_another_detector() -> None:
    for key, value in labelled(True):
        others = [d.key for d in pii.DETECTORS if d.key != key and d.matches(value, TODAY)]
        assert others == [], (key, value)


def test_luhn_and_mod97_checks() -> None:
    assert pii.luhn("79927398713")
    assert not pii.luhn("79927398710")
    assert pii.iban_valid("GB82WEST12345698765432")
    assert not pii.iban_valid("GB82WEST12345698765423")  # two digits swapped


def test_column_name_hints() -> None:
    hinted = {d.key: d.hints for d in pii.DETECTORS}
    assert hinted["email"]("customerEmail")
    assert hinted["phone"]("mobile_number")
    assert hinted["ip_address"]("ip_address")
    assert not hinted["address"]("ip_address")
    assert hinted["address"]("street_address")
    assert hinted["date_of_birth"]("date_of_birth")
    assert hinted["person_name"]("first_name")
    assert not hinted["person_name"]("name")  # a product's name is no person's
    assert hinted["credit_card"]("card_number")
    assert hinted["iban"]("iban")


def test_confidence_weighs_values_over_names() -> None:
    email = pii.BY_KEY["email"]
    hint_only = pii.confidence(email, matched=0, sampled=2000, hinted=True)
    values_only = pii.confidence(email, matched=1900, sampled=2000, hinted=False)
    both = pii.confidence(email, matched=1900, sampled=2000, hinted=True)
    assert hint_only == pii.HINT_WEIGHT < 0.5
    assert 0.9 < values_only < both <= 1.0
    assert pii.confidence(email, matched=3, sampled=3, hinted=False) < values_only  # three values prove little
    assert pii.reason(email, matched=1940, sampled=2000, hinted=True) == (
        "97% of 2,000 sampled values are valid e-mail addresses; column name suggests e-mail"
    )
    assert pii.reason(email, matched=0, sampled=2000, hinted=True) == (
        "0% of 2,000 sampled values are valid e-mail addresses; only the column name suggests e-mail"
    )


def test_weak_detectors_need_a_hint_or_a_majority() -> None:
    name = pii.BY_KEY["person_name"]
    assert not pii.flagged(name, ratio=0.3, hinted=False, threshold=0.1)
    assert pii.flagged(name, ratio=0.3, hinted=True, threshold=0.1)
    assert pii.flagged(name, ratio=0.6, hinted=False, threshold=0.1)
    assert pii.flagged(pii.BY_KEY["email"], ratio=0.3, hinted=False, threshold=0.1)
    assert not pii.flagged(pii.BY_KEY["email"], ratio=0.09, hinted=True, threshold=0.1)


# --- the same detectors in Spark SQL -------------------------------------------------------------------------


def test_spark_sql_detectors_agree_with_python(spark: SparkSession) -> None:
    values = sorted({v for yes, no in CASES.values() for v in yes + no} | {"", "   ", " 4111111111111111 "})
    frame = spark.createDataFrame([(v,) for v in values], "v string")
    frame = frame.select("v", F.expr("nullif(trim(v), '')").alias("c"))
    rows = frame.select("v", *[F.expr(d.sql("c", TODAY)).alias(d.key) for d in pii.DETECTORS]).collect()
    assert len(rows) == len(values)
    for row in rows:
        for detector in pii.DETECTORS:
            assert bool(row[detector.key]) == detector.matches(row["v"], TODAY), (detector.key, row["v"])


# --- a scan of planted data ----------------------------------------------------------------------------------


def luhn_complete(prefix: str, length: int, draw: random.Random) -> str:
    body = prefix + "".join(draw.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if pii.luhn(body + d))


def german_iban(draw: random.Random) -> str:
    bban = "".join(draw.choice("0123456789") for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # D=13, E=14, then "00"
    return f"DE{check:02d}{bban}"


def planted_rows(count: int) -> list[tuple[Any, ...]]:
    draw = random.Random(5)
    firsts, lasts = ["Anna", "James", "Lukas", "Sofia", "Emma"], ["Smith", "Müller", "Rossi", "Martin", "Jansen"]
    rows = []
    for i in range(count):
        first, last = draw.choice(firsts), draw.choice(lasts)
        iban = german_iban(draw)
        broken = iban[:-1] + str((int(iban[-1]) + 1) % 10)
        card = luhn_complete("4", 16, draw)
        not_card = card[:-1] + str((int(card[-1]) + 1) % 10)
        born = date(1950, 1, 1) + timedelta(days=draw.randrange(18000))
        rows.append(
            (
                f"{first.lower()}.{last.lower()}{i}@example.com" if i % 20 else f"{first}{i} at example",  # 95%
                draw.choice(["n/a", "unknown", "-", "none", "pending"]),  # email_address: only the name hints
                f"+4917{draw.randrange(10**7, 10**8)}" if i % 2 else f"(212) 555-{draw.randrange(1000, 9999)}",
                f"10.{i % 250}.{draw.randrange(256)}.{draw.randrange(1, 255)}" if i % 3 else f"2001:db8::{i:x}",
                f"{draw.randrange(256, 999)}.{draw.randrange(256)}.1.1",  # host: no valid IP
                card,
                not_card,  # ref_number: Luhn-invalid
                iban,
                broken,  # iban_broken: checksum broken
                born,
                date(2024, 1, 1) + timedelta(days=i),  # signup_date: not a birth date by name
                born.strftime("%d/%m/%Y"),
                f"{draw.randrange(1, 200)} {draw.choice(['Oak', 'Elm', 'Main'])} Street",
                f"{first} {last}",
                draw.choice(["fragile", "leave at door", "gift wrap", "call before"]),
                f"{first.lower()}{i}@example.com" if i % 20 == 0 else "ok",  # comment: 5% e-mails
                f"{first.lower()}{i}@example.com" if i % 20 < 3 else "ok",  # mixed: 15% e-mails
            )
        )
    return rows


PLANTED_SCHEMA = StructType(
    [StructField(n, StringType()) for n in ("email", "email_address", "phone", "last_login_ip", "host")]
    + [StructField(n, StringType()) for n in ("card_number", "ref_number", "iban", "iban_broken")]
    + [StructField("birthdate", DateType()), StructField("signup_date", DateType())]
    + [StructField(n, StringType()) for n in ("dob_text", "street", "full_name", "notes", "comment", "mixed")]
)

FLAGGED = {
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "last_login_ip": "user.device.ip_address",
    "card_number": "user.financial.credit_card",
    "iban": "user.financial.bank_account",
    "birthdate": "user.demographic.date_of_birth",
    "dob_text": "user.demographic.date_of_birth",
    "street": "user.contact.address",
    "full_name": "user.name",
    "mixed": "user.contact.email",
}
ROWS = 200


@dataclass
class Scan:
    result: JobResult
    report: Path
    events: list[dict[str, Any]]
    values: set[str]
    columns: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def scan(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    base = tmp_path_factory.mktemp("pii_lake")
    root = "file://" + str(base)
    rows = planted_rows(ROWS)
    spark.createDataFrame(rows, PLANTED_SCHEMA).coalesce(1).write.parquet(dataset_uri(root, "raw/people"))
    parser = base_parser(pii_scan.NAME)
    pii_scan.add_arguments(parser)
    events_file = base / "events.jsonl"
    args = parser.parse_args(
        ["--lake", root, "--datasets", "raw/people", "--today", TODAY.isoformat(), "--lineage-file", str(events_file)]
    )
    result = execute(pii_scan.NAME, pii_scan.run, args, spark=spark)
    values = {str(v) for row in rows for v in row if len(str(v)) >= 5}
    (dataset,) = result.summary["datasets"]
    return Scan(
        result=result,
        report=base / "pii" / "_latest.json",
        events=[json.loads(line) for line in events_file.read_text().splitlines()],
        values=values,
        columns={c["column"]: c for c in dataset["columns"]},
    )


def test_planted_columns_are_flagged_with_their_category(scan: Scan) -> None:
    flagged = {name: c["category"] for name, c in scan.columns.items() if c["flagged"]}
    assert flagged == FLAGGED
    assert {(f["column"], f["category"]) for f in scan.result.summary["flagged"]} == set(FLAGGED.items())


def test_checksums_and_ranges_keep_lookalikes_out(scan: Scan) -> None:
    for column in ("ref_number", "iban_broken", "host", "notes", "comment", "email_address"):
        assert not scan.columns[column]["flagged"], column
    assert all(f["matched"] == 0 for f in scan.columns["ref_number"]["findings"])
    (broken,) = scan.columns["iban_broken"]["findings"]
    assert (broken["detector"], broken["matched"], broken["name_hint"]) == ("iban", 0, True)
    assert scan.columns["host"]["findings"] == []
    assert "signup_date" not in scan.columns  # a date column without a birth-like name is not scanned


def test_a_name_without_matching_values_gets_low_confidence(scan: Scan) -> None:
    (finding,) = scan.columns["email_address"]["findings"]
    assert finding["matched"] == 0
    assert finding["confidence"] < 0.5
    assert finding["reason"] == (
        f"0% of {ROWS} sampled values are valid e-mail addresses; only the column name suggests e-mail"
    )
    email = scan.columns["email"]
    assert email["confidence"] > 0.9
    (top,) = [f for f in email["findings"] if f["flagged"]]
    assert (top["matched"], top["ratio"]) == (190, 0.95)
    assert top["reason"] == f"95% of {ROWS} sampled values are valid e-mail addresses; column name suggests e-mail"


def test_below_threshold_is_reported_but_not_flagged(scan: Scan) -> None:
    (comment,) = scan.columns["comment"]["findings"]
    assert (comment["ratio"], comment["flagged"]) == (0.05, False)
    (mixed,) = [f for f in scan.columns["mixed"]["findings"] if f["detector"] == "email"]
    assert (mixed["ratio"], mixed["flagged"]) == (0.15, True)


def test_no_sampled_value_leaves_the_scan(scan: Scan) -> None:
    texts = {
        "summary": json.dumps(scan.result.summary, default=str),
        "report": scan.report.read_text(),
        "lineage": json.dumps(scan.events),
    }
    assert json.loads(texts["report"])["flagged"] == scan.result.summary["flagged"]
    for where, text in texts.items():
        leaked = [value for value in scan.values if value in text]
        assert leaked == [], where


def test_lineage_events_validate(scan: Scan, validate_openlineage) -> None:
    assert [e["eventType"] for e in scan.events] == ["START", "COMPLETE"]
    for event in scan.events:
        validate_openlineage(event)
    (source,) = scan.events[1]["inputs"]
    assert source["name"] == "raw/people"
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == PLANTED_SCHEMA.names
    assert scan.events[1]["outputs"] == []


def test_sampling_is_deterministic_for_a_seed(spark: SparkSession) -> None:
    frame = spark.createDataFrame(planted_rows(ROWS), PLANTED_SCHEMA)
    runs = [pii_scan.scan_dataset(frame, rows=50, seed=7, threshold=0.1, today=TODAY) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0]["rows_sampled"] == 50
    assert runs[0]["rows_total"] == ROWS


def test_a_large_dataset_is_sampled_from_a_seeded_subset_of_its_files(spark: SparkSession, tmp_path: Path) -> None:
    uri = "file://" + str(tmp_path / "people")
    spark.createDataFrame(planted_rows(ROWS), PLANTED_SCHEMA).repartition(25).write.parquet(uri)
    frame = spark.read.parquet(uri)
    assert len(frame.inputFiles()) == 25
    chosen = pii_scan.sampled_files(frame, uri, rows=5, total=ROWS, seed=7)
    assert chosen is not None
    assert len(chosen) == pii_scan.MIN_SAMPLED_FILES
    assert chosen == pii_scan.sampled_files(frame, uri, rows=5, total=ROWS, seed=7)
    assert chosen != pii_scan.sampled_files(frame, uri, rows=5, total=ROWS, seed=8)
    assert pii_scan.sampled_files(frame, uri, rows=50, total=ROWS, seed=7) is None  # too few rows to bother
    scans = [pii_scan.scan_dataset(frame, rows=5, seed=7, threshold=0.1, today=TODAY, base=uri) for _ in range(2)]
    assert scans[0] == scans[1]
    assert (scans[0]["rows_total"], scans[0]["rows_sampled"]) == (ROWS, 5)
    email = next(c for c in scans[0]["columns"] if c["column"] == "email")
    assert email["non_empty"] == 5
