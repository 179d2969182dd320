"""The denial categorizer against an answer table written from shared/domain/rcm-brief.md
(sections 1, 2 and 4), not from the rules file under test, and the rules file's load errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import bots.denials.categorize as categorize_module
from bots.core.errors import ConfigError
from bots.core.models import Adjustment
from bots.denials import PORTAL_CHANGING, Categorization, DenialCategory, DenialRules, NextAction
from tests.conftest import ROOT

C, N = DenialCategory, NextAction
Adj = tuple[str, str, str | None]  # (group code, CARC, RARC)

CODING_CARCS = ["4", "5", "6", "7", "8", "9", "10", "11", "12", "58", "97", "107", "146", "150", "151", "167", "181"]
CODING_CARCS += ["182", "189", "199", "231", "234", "236"]
CODING_RARCS = ["M15", "M20", "M51", "M64", "M76", "M67", "M77", "M80", "M81", "M84", "M86", "M119", "N19", "N20"]
CODING_RARCS += ["N22", "N56", "N95", "N122"]

Row = tuple[str | None, list[Adj], DenialCategory, NextAction]


def denied(
    carcs: list[str], category: DenialCategory, action: NextAction, rarcs: list[str | None] | None = None
) -> list[Row]:
    """F2 rows of one CO adjustment each: every CARC of `carcs` with every RARC of `rarcs`."""
    return [("F2", [("CO", carc, rarc)], category, action) for carc in carcs for rarc in (rarcs or [None])]


# (277 category, adjustments) -> (category, action), from the brief.
EXPECTED: list[Row] = [
    # Rejections: a new original claim, whatever the adjustments (section 4, first row).
    ("A3", [], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
    ("A6", [("CO", "45", None)], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
    ("A7", [], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
    ("A8", [("CO", "97", "M15"), ("PR", "2", None)], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
    ("F2", [("CO", "16", "MA130")], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
    (None, [("CO", "45", None), ("OA", "18", "MA130")], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
    # Coding: the C rows of the CARC table; 151 is C there, though section 4 lists it for appeal.
    *denied(CODING_CARCS, C.CODING, N.CORRECTED_CLAIM),
    ("F1", [("CO", "4", "M20")], C.CODING, N.CORRECTED_CLAIM),
    # 16 is coding with a coding RARC, missing information otherwise.
    *denied(["16"], C.CODING, N.CORRECTED_CLAIM, rarcs=list(CODING_RARCS)),
    ("F2", [("CO", "16", "N30")], C.MISSING_INFORMATION, N.CORRECTED_CLAIM),
    ("F2", [("CO", "16", None)], C.MISSING_INFORMATION, N.CORRECTED_CLAIM),
    ("F2", [("CO", "16", "N115")], C.MISSING_INFORMATION, N.CORRECTED_CLAIM),
    # Documentation.
    ("F2", [("CO", "226", None)], C.DOCUMENTATION, N.SEND_RECORDS),
    ("F2", [("CO", "252", None)], C.DOCUMENTATION, N.SEND_RECORDS),
    # Eligibility.
    *denied(["26", "27", "31", "32", "140"], C.ELIGIBILITY, N.VERIFY_ELIGIBILITY),
    # Authorization.
    *denied(["15", "39", "197", "198", "284", "288"], C.AUTHORIZATION, N.RETRO_AUTHORIZATION),
    # Timely filing: write off unless there is proof, so the proposal is a write-off review.
    ("F2", [("CO", "29", None)], C.TIMELY_FILING, N.WRITE_OFF_REVIEW),
    # Duplicate.
    ("F2", [("OA", "18", None)], C.DUPLICATE, N.NONE),
    ("F2", [("CO", "18", None)], C.DUPLICATE, N.NONE),
    # Medical necessity.
    *denied(["50", "55", "56"], C.MEDICAL_NECESSITY, N.APPEAL),
    # Coverage.
    ("F2", [("CO", "96", None)], C.COVERAGE, N.WRITE_OFF_REVIEW),
    ("F2", [("PR", "204", None)], C.COVERAGE, N.WRITE_OFF_REVIEW),
    # Payment policy.
    ("F2", [("CO", "59", None)], C.PAYMENT_POLICY, N.APPEAL),
    # Coordination of benefits.
    ("F2", [("OA", "22", None)], C.COORDINATION_OF_BENEFITS, N.FIX_COB),
    ("F2", [("OA", "23", None)], C.COORDINATION_OF_BENEFITS, N.FIX_COB),
    ("F2", [("CO", "109", None)], C.COORDINATION_OF_BENEFITS, N.FIX_COB),
    ("F2", [("CO", "16", "N4")], C.COORDINATION_OF_BENEFITS, N.FIX_COB),
    # Not denials.
    ("F1", [("CO", "45", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [("CO", "253", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [("PI", "45", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [("PR", "1", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [("PR", "2", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [("PR", "3", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [("CO", "45", None), ("PR", "2", None), ("PR", "3", None)], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    ("F1", [], C.CONTRACTUAL_OR_PATIENT, N.NONE),
    # Anything else, and no reasons seen.
    ("F2", [("CO", "177", None)], C.OTHER, N.NONE),
    ("F2", [("CO", "2", None)], C.OTHER, N.NONE),  # deductible is patient responsibility only under PR
    ("F2", [], C.OTHER, N.NONE),
    ("F4", [], C.OTHER, N.NONE),
    ("P1", [], C.OTHER, N.NONE),
    ("A4", [], C.OTHER, N.NONE),
    (None, [], C.OTHER, N.NONE),
    # Several adjustments: the most important category decides.
    ("F2", [("CO", "45", None), ("PR", "2", None), ("CO", "97", "M15")], C.CODING, N.CORRECTED_CLAIM),
    ("F2", [("CO", "45", None), ("CO", "29", None)], C.TIMELY_FILING, N.WRITE_OFF_REVIEW),
    ("F2", [("CO", "50", None), ("CO", "16", None)], C.MISSING_INFORMATION, N.CORRECTED_CLAIM),
    ("F2", [("CO", "18", None), ("CO", "96", None)], C.COVERAGE, N.WRITE_OFF_REVIEW),
    ("F2", [("CO", "31", None), ("CO", "197", None)], C.AUTHORIZATION, N.RETRO_AUTHORIZATION),
    ("F2", [("OA", "22", None), ("CO", "252", None)], C.DOCUMENTATION, N.SEND_RECORDS),
    ("F2", [("CO", "59", None), ("OA", "18", None)], C.PAYMENT_POLICY, N.APPEAL),
    ("F2", [("CO", "177", None), ("CO", "45", None)], C.OTHER, N.NONE),
    ("F2", [("OA", "23", None), ("CO", "55", None)], C.COORDINATION_OF_BENEFITS, N.FIX_COB),
    ("F2", [("CO", "26", None), ("CO", "50", None)], C.ELIGIBILITY, N.VERIFY_ELIGIBILITY),
    ("F2", [("CO", "4", None), ("CO", "16", "MA130")], C.REJECTION, N.NEW_ORIGINAL_CLAIM),
]


def adjustments(rows: list[Adj]) -> list[Adjustment]:
    return [Adjustment(line_no=1, group_code=g, carc=c, rarc=r, amount_cents=1000) for g, c, r in rows]


@pytest.fixture(scope="module")
def rules() -> DenialRules:
    return DenialRules.load(ROOT / "config" / "denials.yaml")


def test_the_table_covers_every_category_and_action() -> None:
    assert len(EXPECTED) >= 40
    assert {row[2] for row in EXPECTED} == set(DenialCategory)
    assert {row[3] for row in EXPECTED} == set(NextAction)


@pytest.mark.parametrize(("category", "adjs", "expected", "action"), EXPECTED)
def test_categorize_per_brief(
    rules: DenialRules, category: str | None, adjs: list[Adj], expected: DenialCategory, action: NextAction
) -> None:
    result = rules.categorize(category, adjustments(adjs))
    assert (result.category, result.action) == (expected, action)
    assert result.version == rules.version and result.rule


def test_shipped_rules_load(rules: DenialRules) -> None:
    assert isinstance(rules.version, str) and rules.version.count(".") == 2
    assert rules.precedence[0] is C.REJECTION and rules.precedence[-1] is C.CONTRACTUAL_OR_PATIENT
    assert rules.rules[-1].when.catch_all


def test_mixed_adjustments_take_codes_of_the_deciding_category(rules: DenialRules) -> None:
    result = rules.categorize(
        "F2", adjustments([("CO", "45", None), ("CO", "4", "M20"), ("PR", "2", None), ("CO", "97", None)])
    )
    assert result.category is C.CODING and result.coding and result.changes_portal
    assert result.codes == ["CO-4", "M20", "CO-97"]


def test_ma130_anywhere_is_a_rejection(rules: DenialRules) -> None:
    result = rules.categorize("F1", adjustments([("CO", "45", None), ("CO", "16", "MA130")]))
    assert (result.category, result.action) == (C.REJECTION, N.NEW_ORIGINAL_CLAIM)
    assert result.codes == ["CO-16", "MA130"]


def test_16_with_a_coding_rarc_is_coding_with_another_rarc_missing_information(rules: DenialRules) -> None:
    coding = rules.categorize("F2", adjustments([("CO", "16", "M51")]))
    missing = rules.categorize("F2", adjustments([("CO", "16", "N30")]))
    assert coding.category is C.CODING and coding.coding and coding.codes == ["CO-16", "M51"]
    assert missing.category is C.MISSING_INFORMATION and not missing.coding
    assert coding.action is missing.action is N.CORRECTED_CLAIM and coding.rule != missing.rule


def test_a7_without_adjustments(rules: DenialRules) -> None:
    result = rules.categorize("A7", [])
    assert (result.category, result.action, result.codes) == (C.REJECTION, N.NEW_ORIGINAL_CLAIM, ["A7"])
    assert result.changes_portal and not result.coding


def test_f2_without_adjustments_says_reasons_not_seen(rules: DenialRules) -> None:
    result = rules.categorize("F2", [], status_code="1")
    assert (result.category, result.action, result.codes) == (C.OTHER, N.NONE, ["F2"])
    assert "reasons not seen" in result.rule
    assert not result.changes_portal


def test_co45_only_and_pr2_only(rules: DenialRules) -> None:
    co45 = rules.categorize("F1", adjustments([("CO", "45", None)]))
    pr2 = rules.categorize("F1", adjustments([("PR", "2", None)]))
    assert (co45.category, co45.action, co45.codes) == (C.CONTRACTUAL_OR_PATIENT, N.NONE, ["CO-45"])
    assert (pr2.category, pr2.action, pr2.codes) == (C.CONTRACTUAL_OR_PATIENT, N.NONE, ["PR-2"])


def test_input_is_read_leniently(rules: DenialRules) -> None:
    """Portals differ in case and spacing; a cell may hold several RARCs."""
    result = rules.categorize(" f2 ", adjustments([(" co", " 16 ", "n30, m20")]))
    assert result.category is C.CODING and result.codes == ["CO-16", "N30", "M20"]


def test_public_api() -> None:
    assert set(categorize_module.__all__) == {
        "PORTAL_CHANGING",
        "Categorization",
        "DenialCategory",
        "DenialRules",
        "NextAction",
    }
    assert {N.CORRECTED_CLAIM, N.NEW_ORIGINAL_CLAIM, N.APPEAL} == PORTAL_CHANGING
    result = Categorization(category=C.DUPLICATE, action=N.NONE, rule="r", version="1", codes=["OA-18"])
    assert not result.coding and not result.changes_portal
    with pytest.raises(ValidationError):
        result.category = C.CODING  # type: ignore[misc]


def test_statuses_and_adjustments_keys(tmp_path: Path) -> None:
    """The two keys the shipped rules barely use: a 277 status code, and 'no adjustments seen'."""
    text = VALID.replace(
        "rules:\n",
        'rules:\n  - name: duplicate by status\n    when: {statuses: ["54"], adjustments: false}\n'
        "    category: duplicate\n",
    )
    rules = DenialRules.load(write(tmp_path, text))
    assert rules.categorize("F2", [], status_code="54").codes == ["54"]
    assert rules.categorize("F2", [], status_code="54").category is C.DUPLICATE
    assert rules.categorize("F2", adjustments([("CO", "177", None)]), status_code="54").category is C.OTHER


VALID = """\
version: "1.0.0"
precedence:
  - rejection
  - coding
  - missing_information
  - documentation
  - authorization
  - eligibility
  - coordination_of_benefits
  - medical_necessity
  - timely_filing
  - coverage
  - payment_policy
  - duplicate
  - other
  - contractual_or_patient_responsibility
actions:
  rejection: new_original_claim
  coding: corrected_claim
  missing_information: corrected_claim
  documentation: send_records
  authorization: retro_authorization
  eligibility: verify_eligibility
  coordination_of_benefits: fix_cob
  medical_necessity: appeal
  timely_filing: write_off_review
  coverage: write_off_review
  payment_policy: appeal
  duplicate: none
  other: none
  contractual_or_patient_responsibility: none
rules:
  - name: coding
    when: {groups: [CO], carcs: ["4", "97"], rarcs: [M15]}
    category: coding
  - name: anything else
    when: {}
    category: other
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "denials.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_with(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_valid_base_loads(tmp_path: Path) -> None:
    rules = DenialRules.load(write(tmp_path, VALID))
    assert rules.categorize("F2", adjustments([("CO", "97", "M15")])).category is C.CODING
    assert rules.categorize("F2", adjustments([("PR", "97", "M15")])).category is C.OTHER  # AND across keys
    assert rules.categorize("F2", adjustments([("CO", "97", None)])).category is C.OTHER


# (replace this, with that, the line holding this fragment after the change, words of the problem)
LOAD_ERRORS = [
    pytest.param("{groups:", "{group:", "{group:", "unknown key 'group' (did you mean 'groups'?)", id="misspelled-key"),
    pytest.param(
        "  - name: anything else\n    when: {}\n    category: other\n",
        "",
        "  - name: coding",
        "the last rule must be a catch-all",
        id="no-catch-all",
    ),
    pytest.param(
        "  - name: coding\n    when",
        "  - name: everything\n    when: {}\n    category: other\n  - name: coding\n    when",
        "  - name: everything",
        "put the catch-all last",
        id="catch-all-not-last",
    ),
    pytest.param("  - documentation\n", "", "  - rejection", "missing documentation", id="category-not-in-precedence"),
    pytest.param(
        "  - other\n", "  - other\n  - coding\n", "  - rejection", "more than once: coding", id="category-twice"
    ),
    pytest.param('"4", "97"', '4, "97"', '4, "97"', 'write the CARC 4 as a quoted string ("4")', id="unquoted-carc"),
    pytest.param("[M15]", "[15]", "[15]", "RARC 15 as a quoted string", id="numeric-rarc"),
    pytest.param("[M15]", '["15A"]', '"15A"', "'15A' is not a RARC", id="bad-rarc"),
    pytest.param("[CO]", "[XX]", "[XX]", "'XX' is not a group code", id="bad-group"),
    pytest.param('"1.0.0"', "1.0", "version:", "write the version 1.0 as a quoted string", id="numeric-version"),
    pytest.param("  duplicate: none\n", "", "  rejection: new_", "missing: duplicate", id="category-without-action"),
    pytest.param("name: anything else", "name: coding", "  - name: coding", "used more than once: 'coding'", id="dupe"),
    pytest.param(
        "when: {}\n",
        "when: {carcs: ['4'], adjustments: false}\n",
        "adjustments: false",
        "can never match",
        id="adjustments-false-with-carcs",
    ),
    pytest.param("category: coding", "category: coder", "category: coder", "Input should be", id="bad-category"),
]


@pytest.mark.parametrize(("old", "new", "at", "words"), LOAD_ERRORS)
def test_load_errors_name_file_line_and_problem(tmp_path: Path, old: str, new: str, at: str, words: str) -> None:
    assert old in VALID
    text = VALID.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        DenialRules.load(path)
    error = caught.value
    assert error.file == str(path) and words in error.problem, str(error)
    assert error.line == line_with(text, at), str(error)
    assert f"{path}:{error.line}: " in str(error)
