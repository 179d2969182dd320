"""Synthetic code tables the simulated portal displays (real CARC/RARC codes, shortened text)."""

CARC = {
    "1": "Deductible amount",
    "2": "Coinsurance amount",
    "3": "Co-payment amount",
    "4": "Procedure code inconsistent with the modifier used, or a required modifier is missing",
    "5": "Procedure code/type of bill inconsistent with the place of service",
    "11": "The diagnosis is inconsistent with the procedure",
    "18": "Exact duplicate claim/service",
    "27": "Expenses incurred after coverage terminated",
    "29": "The time limit for filing has expired",
    "31": "Patient cannot be identified as our insured",
    "45": "Charge exceeds fee schedule/maximum allowable",
    "50": "Non-covered: not deemed a medical necessity by the payer",
    "97": "Benefit included in the payment for another service already adjudicated",
    "146": "Diagnosis was invalid for the date(s) of service reported",
    "167": "This (these) diagnosis(es) is (are) not covered",
    "181": "Procedure code was invalid on the date of service",
    "197": "Precertification/authorization/notification absent",
    "236": "Procedure or modifier combination not compatible with another procedure on the same day",
}

RARC = {
    "M15": "Separately billed services/tests have been bundled",
    "M51": "Missing/incomplete/invalid procedure code(s)",
    "M76": "Missing/incomplete/invalid diagnosis or condition",
    "M77": "Missing/incomplete/invalid place of service",
    "M80": "Not covered when performed during the same session as another approved procedure",
    "N30": "Patient ineligible for this service",
    "N56": "Procedure code billed is not correct/valid for the services billed or the date of service",
    "N115": "This decision was based on a Local Coverage Determination (LCD)",
}

# (procedure code, typical charge in cents)
PROCEDURES = [
    ("99213", 15000),
    ("99214", 22000),
    ("36415", 2500),
    ("80053", 6000),
    ("85025", 4000),
    ("93000", 7500),
    ("71046", 12000),
    ("97110", 9000),
    ("20610", 20000),
    ("11721", 8500),
]

CODING_DENIALS = [
    ("4", "M51"),
    ("5", "M77"),
    ("11", "M76"),
    ("97", "M15"),
    ("146", "M76"),
    ("167", "M76"),
    ("181", "N56"),
    ("236", "M80"),
]
OTHER_DENIALS = [("27", "N30"), ("29", None), ("31", "N30"), ("50", "N115"), ("197", None)]

FIRST_NAMES = [
    "Avery",
    "Jordan",
    "Riley",
    "Morgan",
    "Casey",
    "Quinn",
    "Rowan",
    "Emerson",
    "Harper",
    "Sawyer",
    "Reese",
    "Finley",
    "Dakota",
    "Skyler",
    "Marlowe",
    "Ellis",
]
LAST_NAMES = [
    "Thornbury",
    "Vasquez-Lind",
    "Okonkwo",
    "Haldane",
    "Brightwater",
    "Castellanos",
    "Fenwick",
    "Ashgrove",
    "Marchetti",
    "Lindqvist",
    "Pemberton",
    "Nakagawa",
    "Whitlock",
    "Delacroix",
    "Oyelaran",
    "Kowalczyk",
]

# What a clearinghouse's 277 says for each status of the data set (Bluestem's wording):
# (STC01-1 category, STC01-2 status code).
STATUS_277 = {
    "Received": ("A1", "19"),
    "Accepted for Adjudication": ("A2", "20"),
    "Returned - Invalid Information": ("A7", "21"),
    "Pending": ("P0", "41"),
    "In Process": ("P1", "20"),
    "Pending - Medical Review": ("P2", "46"),
    "Information Requested from Provider": ("P3", "21"),
    "Medical Records Requested": ("R4", "21"),
    "Paid": ("F1", "65"),
    "Partially Paid": ("F1", "65"),
    "Denied": ("F2", "1"),
    "Finalized - No Payment": ("F4", "1"),
    "Suspended - Legacy Hold": ("P5", "41"),
    "Under Reconsideration": ("P2", "46"),
    "Adjusted - See Correspondence": ("F3", "2"),
}
NOT_FOUND_277 = ("A4", "35")

CATEGORY_277 = {
    "A1": "Acknowledgement/Receipt: the claim has been received",
    "A2": "Acknowledgement/Acceptance into adjudication system",
    "A4": "Acknowledgement/Not Found: the claim cannot be found in the adjudication system",
    "A7": "Acknowledgement/Rejected for Invalid Information",
    "P0": "Pending: Adjudication/Details",
    "P1": "Pending/In Process",
    "P2": "Pending/Payer Review",
    "P3": "Pending/Provider Requested Information",
    "P5": "Pending/Payer Administrative/System hold",
    "R4": "Request for additional Information/Documentation",
    "F1": "Finalized/Payment: the claim has been paid",
    "F2": "Finalized/Denial",
    "F3": "Finalized/Revised: adjudication information has been changed",
    "F4": "Finalized/Adjudication Complete: no payment forthcoming",
}
STATUS_CODE_277 = {
    "1": "For more detailed information, see remittance advice.",
    "2": "More detailed information in letter.",
    "19": "Entity acknowledges receipt of claim/encounter.",
    "20": "Accepted for processing.",
    "21": "Missing or invalid information.",
    "35": "Claim/encounter not found.",
    "41": "Special handling required at payer site.",
    "46": "Internal review/audit.",
    "65": "Claim/line has been paid.",
}
