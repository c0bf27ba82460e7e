"""The RFM segment rule table: every score triple (r, f, m) in {1..5}³ maps to exactly one of eleven segments.

Scores are quintiles where 5 is best (most recent, most frequent, highest spend). The table follows the widely used
grid of R against the average of F and M, ``fm = (f + m) / 2`` (1.0, 1.5, …, 5.0):

R \\ fm  1.0-1.5         2.0-2.5              3.0               3.5               4.0               4.5-5.0
-------  --------------  -------------------  ----------------  ----------------  ----------------  ----------------
5        New Customers   Potential Loyalists  Loyal Customers   Loyal Customers   Champions         Champions
4        Promising       Potential Loyalists  Loyal Customers   Loyal Customers   Champions         Champions
3        About to Sleep  Need Attention       Need Attention    Loyal Customers   Loyal Customers   Loyal Customers
2        Hibernating     About to Sleep       At Risk           At Risk           At Risk           Cannot Lose Them
1        Lost            Hibernating          At Risk           At Risk           Cannot Lose Them  Cannot Lose Them

Read as rules (``RULES``; the bounds are inclusive and no two rules overlap):

- Champions: r 4-5, fm ≥ 4 — bought recently, often and the most.
- Loyal Customers: r 4-5 with fm 3-3.5, or r 3 with fm ≥ 3.5 — regular, good spenders.
- Potential Loyalists: r 4-5, fm 2-2.5 — recent, average frequency and spend.
- New Customers: r 5, fm ≤ 1.5 — bought very recently, once and little.
- Promising: r 4, fm ≤ 1.5 — recent, but little so far.
- Need Attention: r 3, fm 2-3 — average on all three, slipping.
- About to Sleep: r 3 with fm ≤ 1.5, or r 2 with fm 2-2.5 — below average and fading.
- At Risk: r 2 with fm 3-4, or r 1 with fm 3-3.5 — spent well and often, but long ago.
- Cannot Lose Them: r 2 with fm ≥ 4.5, or r 1 with fm ≥ 4 — were among the best, gone the longest.
- Hibernating: r 2 with fm ≤ 1.5, or r 1 with fm 2-2.5 — long ago, little.
- Lost: r 1, fm ≤ 1.5 — the lowest scores on everything.

The module is pure Python (no Spark) so the portal, tests and documentation can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPIONS = "Champions"
LOYAL = "Loyal Customers"
POTENTIAL_LOYALISTS = "Potential Loyalists"
NEW_CUSTOMERS = "New Customers"
PROMISING = "Promising"
NEED_ATTENTION = "Need Attention"
ABOUT_TO_SLEEP = "About to Sleep"
AT_RISK = "At Risk"
CANNOT_LOSE = "Cannot Lose Them"
HIBERNATING = "Hibernating"
LOST = "Lost"

SEGMENTS: tuple[str, ...] = (
    CHAMPIONS,
    LOYAL,
    POTENTIAL_LOYALISTS,
    NEW_CUSTOMERS,
    PROMISING,
    NEED_ATTENTION,
    ABOUT_TO_SLEEP,
    AT_RISK,
    CANNOT_LOSE,
    HIBERNATING,
    LOST,
)

ACTIONS: dict[str, str] = {
    CHAMPIONS: "reward, early access, referrals",
    LOYAL: "upsell, loyalty programme",
    POTENTIAL_LOYALISTS: "membership, nurture",
    NEW_CUSTOMERS: "onboarding",
    PROMISING: "targeted offers",
    NEED_ATTENTION: "limited-time offers",
    ABOUT_TO_SLEEP: "reactivation content",
    AT_RISK: "win-back campaign, survey",
    CANNOT_LOSE: "personal win-back, renewal discount",
    HIBERNATING: "minimal spend",
    LOST: "ignore or last attempt",
}

SCORES = range(1, 6)


@dataclass(frozen=True)
class Rule:
    """One cell block of the grid: recency scores ``r_min..r_max`` and average F/M ``fm_min..fm_max`` (inclusive)."""

    segment: str
    r_min: int
    r_max: int
    fm_min: float
    fm_max: float

    def matches(self, r: int, f: int, m: int) -> bool:
        fm = (f + m) / 2  # halves are exact in binary floating point
        return self.r_min <= r <= self.r_max and self.fm_min <= fm <= self.fm_max


RULES: tuple[Rule, ...] = (
    Rule(CHAMPIONS, 4, 5, 4.0, 5.0),
    Rule(LOYAL, 4, 5, 3.0, 3.5),
    Rule(LOYAL, 3, 3, 3.5, 5.0),
    Rule(POTENTIAL_LOYALISTS, 4, 5, 2.0, 2.5),
    Rule(NEW_CUSTOMERS, 5, 5, 1.0, 1.5),
    Rule(PROMISING, 4, 4, 1.0, 1.5),
    Rule(NEED_ATTENTION, 3, 3, 2.0, 3.0),
    Rule(ABOUT_TO_SLEEP, 3, 3, 1.0, 1.5),
    Rule(ABOUT_TO_SLEEP, 2, 2, 2.0, 2.5),
    Rule(AT_RISK, 2, 2, 3.0, 4.0),
    Rule(AT_RISK, 1, 1, 3.0, 3.5),
    Rule(CANNOT_LOSE, 2, 2, 4.5, 5.0),
    Rule(CANNOT_LOSE, 1, 1, 4.0, 5.0),
    Rule(HIBERNATING, 2, 2, 1.0, 1.5),
    Rule(HIBERNATING, 1, 1, 2.0, 2.5),
    Rule(LOST, 1, 1, 1.0, 1.5),
)


def rfm_code(r: int, f: int, m: int) -> str:
    """The three scores as a code, e.g. ``"545"``."""
    return f"{r}{f}{m}"


def matching_rules(r: int, f: int, m: int) -> list[Rule]:
    """Every rule that covers the triple (exactly one for a well-formed table)."""
    return [rule for rule in RULES if rule.matches(r, f, m)]


def segment_for(r: int, f: int, m: int) -> str:
    """The segment of one score triple; ``ValueError`` outside {1..5}³ or when the table is not a partition."""
    if not all(score in SCORES for score in (r, f, m)):
        raise ValueError(f"RFM scores must be 1..5, got {(r, f, m)}")
    found = matching_rules(r, f, m)
    if len(found) != 1:
        raise ValueError(f"the RFM rule table maps {rfm_code(r, f, m)} to {len(found)} segments")
    return found[0].segment


def _build_table() -> dict[str, str]:
    table = {rfm_code(r, f, m): segment_for(r, f, m) for r in SCORES for f in SCORES for m in SCORES}
    unreachable = set(SEGMENTS) - set(table.values())
    if unreachable:
        raise ValueError(f"RFM segments no score triple reaches: {sorted(unreachable)}")
    return table


SEGMENT_BY_CODE: dict[str, str] = _build_table()
"""All 125 codes → segment; built (and checked) at import so a broken table fails loudly and early."""
