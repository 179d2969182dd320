"""rcmbot: RPA-style bots for healthcare revenue-cycle work.

Rooms, each depending only on those listed before it:
    core          settings, domain models, errors, logging/redaction, YAML loading
    sim           simulated payer portals (used by the demo, the tests, the benchmarks)
    evidence      the evidence store (content-addressed files + append-only manifest)
    worklist      AR worklist database, CSV import/export, follow-up rules
    denials       the denial categorizer: 277 category + group code, CARC, RARC -> category, next action
    review        review tasks for coding decisions: state machine, maker-checker, leases, decision log
    accounts      console users, passwords, sessions, lockout, TOTP; login events and the access log
    alerts        one alert per incident, kept for the console and sent by webhook and SMTP e-mail
    browser       Chromium launch, selector maps, page objects, evidence capture
    claimstatus   the claim-status bot, status mapping, portal runtime
    apply         submits approved review decisions to portals, exactly once
    sweep         a sweep: due items, a pool of browser contexts, recording
    orchestration Prefect environment, the sweep flow runner, prefect.yaml deployments, `rcmbot serve`
    console       the supervisors' web console: FastAPI pages, sign-in, roles, CSRF and security headers
    bench         `rcmbot bench`: rcmbot side by side with plain Playwright scripts
    cli           the `rcmbot` command
"""

__version__ = "0.1.0"
