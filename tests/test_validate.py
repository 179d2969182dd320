"""`rcmbot portal validate` and the errors under it: every problem of a data file at once, each
with its line and dotted key, an unknown key with the closest real one; a portal checked
without a browser; a hook imported from the project folder by the installed `rcmbot` script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bots.browser.selectors import SelectorMap
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.statusmap import StatusMap
from bots.claimstatus.validate import validate_portal
from bots.core.errors import ConfigError
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from tests.conftest import ROOT, base_env, rcmbot_in_process

REGISTRY = Path("config/portals.yaml")
SELECTORS = Path("selectors/bluestem.yaml")
STATUSES = Path("config/status/bluestem.yaml")
CREDENTIALS = {
    "RCMBOT_BLUESTEM_USERNAME": "bot",
    "RCMBOT_BLUESTEM_PASSWORD": "secret",
    "RCMBOT_BLUESTEM_TOTP_SECRET": "JBSWY3DPEHPK3PXP",
}
TIME_ZONE = ("    timezone: America/Chicago", "    time_zone: America/Chicago")
LABEL = ("{label: User ID}", "{lable: User ID}")
CATEGORY = ('{category: A2, code: "20"}', '{categroy: A2, code: "20"}')
HOOK = "from bots.claimstatus import ClaimStatusBot\n\n\nclass BluestemBot(ClaimStatusBot):\n    pass\n"


def project(root: Path, **edits: list[tuple[str, str]]) -> Path:
    """A project folder with copies of the shipped registry and Bluestem's maps, each file's
    text replaced as `edits` says (registry=, selectors=, statuses=: (old, new) pairs)."""
    for name, rel in (("registry", REGISTRY), ("selectors", SELECTORS), ("statuses", STATUSES)):
        text = (ROOT / rel).read_text()
        for old, new in edits.get(name, []):
            assert old in text, old
            text = text.replace(old, new, 1)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def hooked_project(root: Path, package: str, name: str) -> Path:
    """project() with a hook package in the folder (BluestemBot, a ClaimStatusBot subclass) and
    `bot: <package>.bluestem:<name>` in Bluestem's entry."""
    project(root, registry=[("    mfa: totp\n", f"    mfa: totp\n    bot: {package}.bluestem:{name}\n")])
    (root / package).mkdir()
    (root / package / "__init__.py").write_text("")
    (root / package / "bluestem.py").write_text(HOOK)
    return root


def line(path: Path, text: str) -> int:
    return next(n for n, each in enumerate(path.read_text().splitlines(), 1) if text in each)


def where(error: ConfigError) -> list[tuple[int | None, str]]:
    return [(p.line, p.key) for p in error.problems]


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: None) -> Path:
    """In-process commands run against the project folder tmp_path/project."""
    root = tmp_path / "project"
    monkeypatch.setenv("RCMBOT_PROJECT_ROOT", str(root))
    monkeypatch.setenv("RCMBOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("RCMBOT_PORTALS_FILE", raising=False)
    return root


def test_one_problem_reads_as_before_and_several_one_per_line() -> None:
    one = ConfigError("a.yaml", 3, "portals.x.mfa", "bad")
    assert (str(one), one.problems, ConfigError.collect([one])) == ("a.yaml:3: portals.x.mfa: bad", [one], one)
    two = ConfigError.collect([one, ConfigError("b.yaml", None, "(file)", "cannot read")])
    assert str(two) == "a.yaml:3: portals.x.mfa: bad\nb.yaml: (file): cannot read"
    assert (two.file, two.line, two.key, two.problem) == ("a.yaml", 3, "portals.x.mfa", "bad")
    assert ConfigError.collect([two, one]).problems == [*two.problems, one]


def test_every_problem_of_a_registry_at_once_and_a_did_you_mean(tmp_path) -> None:
    project(
        tmp_path,
        registry=[TIME_ZONE, ("max_concurrency: 8", "max_concurrency: 0"), ("password_env", "pasword_env")],
    )
    path = tmp_path / REGISTRY
    with pytest.raises(ConfigError) as err:
        PortalRegistry.load(path)
    assert where(err.value) == [
        (line(path, "name: Bluestem"), "portals.bluestem.timezone"),
        (line(path, "time_zone:"), "portals.bluestem.time_zone"),
        (line(path, "max_concurrency: 0"), "portals.bluestem.max_concurrency"),
        (line(path, "pasword_env"), "portals.bluestem.credentials.pasword_env"),
    ]
    problems = [p.problem for p in err.value.problems]
    assert problems[1] == "unknown key 'time_zone' (did you mean 'timezone'?)"
    assert problems[3] == "unknown key 'pasword_env' (did you mean 'password_env'?)"
    assert str(err.value).splitlines()[1] == (
        f"{path}:{line(path, 'time_zone:')}: portals.bluestem.time_zone: {problems[1]}"
    )


def test_every_problem_of_a_selector_map_and_a_status_map_at_once(tmp_path) -> None:
    project(
        tmp_path,
        selectors=[LABEL, ("{label: Password}", "{label: Password, css: '#pw'}"), ("portal: bluestem", "portals: x")],
        statuses=[CATEGORY, ('{category: A7, code: "21"}', '{category: Z9, code: "21"}')],
    )
    smap = tmp_path / SELECTORS
    with pytest.raises(ConfigError) as err:
        SelectorMap.load(smap)
    assert where(err.value) == [
        (line(smap, "portals: x"), "portal"),
        (line(smap, "portals: x"), "portals"),
        (line(smap, "lable: User ID"), "elements.login.username.candidates.0.lable"),
        (line(smap, "css: '#pw'"), "elements.login.password.candidates.0"),
    ]
    assert err.value.problems[1].problem == "unknown key 'portals' (did you mean 'portal'?)"
    assert err.value.problems[2].problem == "unknown key 'lable' (did you mean 'label'?)"
    assert err.value.problems[3].problem.startswith("give exactly one of")  # a validator's words, as they are

    statuses = tmp_path / STATUSES
    with pytest.raises(ConfigError) as err:
        StatusMap.load(statuses)
    assert [(n, key.rsplit(".", 1)[-1]) for n, key in where(err.value)] == [
        (line(statuses, "categroy"), "category"),
        (line(statuses, "categroy"), "categroy"),
        (line(statuses, "Z9"), "category"),
    ]
    assert err.value.problems[1].problem == "unknown key 'categroy' (did you mean 'category'?)"


def test_a_valid_portal_exits_0(in_project) -> None:
    project(in_project)
    code, out, err = rcmbot_in_process("portal", "validate", "bluestem")
    assert (code, out, err) == (0, "bluestem: valid (registry, selector map, status map, hook, credentials)\n", "")
    code, out, _ = rcmbot_in_process("portal", "validate", "bluestem", "--json")
    assert (code, json.loads(out)) == (0, {"portal": "bluestem", "valid": True, "problems": [], "not_checked": {}})


def test_every_problem_of_every_file_at_once(in_project, monkeypatch) -> None:
    project(in_project, selectors=[LABEL, ("  login.submit:\n", "  login.sumbit:\n")], statuses=[CATEGORY])
    monkeypatch.delenv("RCMBOT_BLUESTEM_PASSWORD")
    code, out, err = rcmbot_in_process("portal", "validate", "bluestem")
    registry, smap, statuses = (in_project / p for p in (REGISTRY, SELECTORS, STATUSES))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{smap}:{line(smap, 'lable')}: elements.login.username.candidates.0.lable: "
        "unknown key 'lable' (did you mean 'label'?)",
        f"{statuses}:{line(statuses, 'categroy')}: statuses.Accepted for Adjudication.category: Field required",
        f"{statuses}:{line(statuses, 'categroy')}: statuses.Accepted for Adjudication.categroy: "
        "unknown key 'categroy' (did you mean 'category'?)",
        f"{registry}:{line(registry, 'username_env: RCMBOT_BLUESTEM')}: portals.bluestem.credentials: "
        "missing: environment variable RCMBOT_BLUESTEM_PASSWORD",
        "bluestem: 4 problems (registry, selector map, status map, hook, credentials checked)",
    ]
    # With the map's candidates right, the element the shape needs and the map lacks shows too.
    project(in_project, selectors=[("  login.submit:\n", "  login.sumbit:\n")])
    code, out, _ = rcmbot_in_process("portal", "validate", "bluestem", "--json")
    report = json.loads(out)
    assert (code, report["portal"], report["valid"]) == (1, "bluestem", False)
    assert {"file": str(smap), "line": line(smap, "elements:"), "key": "elements.login.submit"}.items() <= report[
        "problems"
    ][0].items()


def test_an_invalid_entry_still_has_its_maps_checked(in_project) -> None:
    project(in_project, registry=[TIME_ZONE], selectors=[LABEL], statuses=[CATEGORY])
    report = validate_portal(Settings(), "bluestem")
    assert [p.key.rsplit(".", 1)[-1] for p in report.problems] == [
        "timezone",
        "time_zone",
        "lable",
        "category",
        "categroy",
    ]
    assert report.summary() == (
        "bluestem: 5 problems (registry, selector map, status map checked; "
        "elements the entry needs, hook, credentials not checked: the registry entry is invalid)"
    )


def test_an_unknown_portal_or_unreadable_registry_is_a_usage_error(in_project) -> None:
    project(in_project)
    code, out, err = rcmbot_in_process("portal", "validate", "bluestme")
    assert (code, out) == (2, "")
    assert err.startswith(
        f"rcmbot: error: no portal 'bluestme' in {in_project / REGISTRY} (did you mean 'bluestem'?); "
        "it has: bluestem, juniper, "
    )
    (in_project / REGISTRY).write_text("portals: [\n")
    code, _, err = rcmbot_in_process("portal", "validate", "bluestem")
    assert code == 2 and err.startswith(f"rcmbot: error: {in_project / REGISTRY}:2: (syntax)")


def test_credentials_in_prefect_blocks_are_not_checked_without_a_block_reader(in_project, monkeypatch) -> None:
    import bots.core.registry

    project(in_project, registry=[("password_env: RCMBOT_BLUESTEM_PASSWORD", "password_block: bluestem-password")])
    monkeypatch.setattr(bots.core.registry, "_block_reader", [])  # as in a process without Prefect set up
    report = validate_portal(Settings(), "bluestem")
    assert report.valid and report.summary() == (
        "bluestem: valid (registry, selector map, status map, hook; credentials not checked: Prefect Secret block)"
    )


def test_a_multi_problem_error_prints_each_problem_as_an_error_line(in_project) -> None:
    project(in_project, registry=[TIME_ZONE])
    code, _, err = rcmbot_in_process("portal", "serve", "bluestem")
    registry = in_project / REGISTRY
    assert code == 2 and err.splitlines() == [
        f"rcmbot: error: {registry}:{line(registry, 'name: Bluestem')}: portals.bluestem.timezone: Field required",
        f"rcmbot: error: {registry}:{line(registry, 'time_zone')}: portals.bluestem.time_zone: "
        "unknown key 'time_zone' (did you mean 'timezone'?)",
    ]


def test_a_hook_in_the_project_folder_imports_under_the_installed_script(tmp_path) -> None:
    root = hooked_project(tmp_path / "project", "my_hooks", "BluestemBot")
    env = {**base_env(tmp_path), **CREDENTIALS}
    for name in ("PYTHONPATH", "RCMBOT_PORTALS_FILE", "RCMBOT_PROJECT_ROOT"):
        env.pop(name, None)
    # The installed script, not `python -m` (which puts the folder it runs in on the path).
    script = Path(sys.executable).parent / "rcmbot"
    done = subprocess.run(
        [str(script), "portal", "validate", "bluestem"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        0,
        "bluestem: valid (registry, selector map, status map, hook, credentials)",
    ), done.stdout + done.stderr


def test_bot_class_puts_the_project_folder_on_the_path_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = hooked_project(tmp_path, "my_hooks_once", "Nothing")  # its own package: imports are cached
    entry = PortalRegistry.load(root / REGISTRY).portals["bluestem"]
    for _ in range(2):
        with pytest.raises(ConfigError) as err:
            bot_class("bluestem", entry, root / REGISTRY, root)
        assert "module 'my_hooks_once.bluestem' has no attribute 'Nothing'" in err.value.problem
    assert sys.path.count(str(root)) == 1


def test_a_canary_that_reaches_for_something_the_portal_cannot_show_is_named(tmp_path, settings) -> None:
    registry = yaml.safe_load((ROOT / "config/portals.yaml").read_text())
    registry["portals"]["bluestem"]["canaries"][0]["reaches"] = ["detail.adjustmnets", "not_found"]
    (tmp_path / "portals.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    settings.portals_file = tmp_path / "portals.yaml"
    (problem,) = validate_portal(settings, "bluestem").problems
    assert problem.key == "portals.bluestem.canaries.0.reaches"
    assert problem.problem == (
        "'detail.adjustmnets': not a screen, outcome or element of its selector map "
        "(did you mean 'detail.adjustments'?)"
    )
