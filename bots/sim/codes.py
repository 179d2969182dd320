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
    ("99213", 15000), ("99214", 22000), ("36415", 2500), ("80053", 6000), ("85025", 4000),
    ("93000", 7500), ("71046", 12000), ("97110", 9000), ("20610", 20000), ("11721", 8500),
]

CODING_DENIALS = [("4", "M51"), ("5", "M77"), ("11", "M76"), ("97", "M15"), ("146", "M76"),
                  ("167", "M76"), ("181", "N56"), ("236", "M80")]
OTHER_DENIALS = [("27", "N30"), ("29", None), ("31", "N30"), ("50", "N115"), ("197", None)]

FIRST_NAMES = ["Avery", "Jordan", "Riley", "Morgan", "Casey", "Quinn", "Rowan", "Emerson",
               "Harper", "Sawyer", "Reese", "Finley", "Dakota", "Skyler", "Marlowe", "Ellis"]
LAST_NAMES = ["Thornbury", "Vasquez-Lind", "Okonkwo", "Haldane", "Brightwater", "Castellanos",
              "Fenwick", "Ashgrove", "Marchetti", "Lindqvist", "Pemberton", "Nakagawa",
              "Whitlock", "Delacroix", "Oyelaran", "Kowalczyk"]
