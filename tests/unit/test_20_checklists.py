"""Checklists: the shipped ones validate, broken ones are refused with file, line and field,
and the plan carries every command of the seed runbook, resolved, in order."""

from __future__ import annotations

import re

import pytest

from runbook_tui.checklist.conditions import CONDITIONS
from runbook_tui.checklist.loader import load_checklist
from tests.conftest import REPO, run

# The user's runbook, kept beside the checklists that encode it (the team's copy of it lives in
# ../shared/seed; test_seed_copy_is_current checks the two agree where both are present).
SEED = REPO / "checklists" / "source" / "runbook-warm-standby-v8.md"
SHARED_SEED = REPO.parent / "shared" / "seed" / "runbook-warm-standby-v8.md"
SHIPPED = sorted((REPO / "checklists").glob("*.yaml"))
BROKEN = REPO / "tests" / "checklists" / "broken"

# file -> (line, field, words of the message)
EXPECTED = {
    "syntax-error.yaml": (7, "syntax", "expected ',' or '}'"),
    "duplicate-id.yaml": (11, "sections[0].steps[1].id", "duplicate step id 'stop-primary' (first on line 8)"),
    "unknown-variable.yaml": (11, "sections[0].steps[0].command", "unknown variable '{{stnadby_dir}}'"),
    "unknown-condition.yaml": (11, "sections[0].steps[0].condition", "unknown condition 'dns_points_to_stanby'"),
    "missing-field.yaml": (8, "sections[0].steps[0].command", "missing required field 'command' for a command step"),
    "wrong-type.yaml": (12, "sections[0].steps[0].timeout_s", "expected a number of seconds (e.g. 90 or 1.5), found 'soon'"),
    "unknown-field.yaml": (11, "sections[0].steps[0].comand", "unknown field 'comand'"),
    "field-not-for-type.yaml": (11, "sections[0].steps[0].command", "'command' does not apply to a confirm step"),
    "yes-as-text.yaml": (11, "sections[0].steps[0].text", "expected text, found a boolean (quote it)"),
    "unknown-step-type.yaml": (10, "sections[0].steps[0].type", "unknown step type 'confrim'"),
    "unknown-choice-option.yaml": (18, "sections[0].steps[0].when.reach", "'C' is not an option of reach (A, B)"),
}


def test_every_shipped_checklist_validates():
    r = run("runbook-tui validate " + " ".join(str(p) for p in SHIPPED), REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok: ") == len(SHIPPED) == 4  # the three checklists and their non-normal procedures


def test_the_corpus_covers_every_file():
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_checklist_gives_one_clear_message(name: str):
    line, field, words = EXPECTED[name]
    r = run(f"runbook-tui validate {BROKEN / name}", REPO)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    messages = r.stderr.strip().splitlines()
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{BROKEN / name}:{line}: {field}: "), messages[0]
    assert words in messages[0]


def test_validate_reports_a_missing_file():
    r = run("runbook-tui validate /nonexistent/checklist.yaml", REPO)
    assert r.returncode == 1 and "/nonexistent/checklist.yaml:1: file: No such file or directory" in r.stderr


def seed_commands(sections: tuple[str, ...]) -> list[str]:
    """The commands of the seed's ```bash blocks in the given sections, one string each."""
    text = SEED.read_text()
    commands = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        if block.split(")", 1)[0].strip() not in sections:
            continue
        for body in re.findall(r"```bash\n(.*?)```", block, flags=re.S):
            joined = re.sub(r"\\\n", " ", body)
            commands += [" ".join(line.split()) for line in joined.splitlines() if line.strip()]
    return commands


def plan_commands(out: str) -> list[str]:
    return [line.strip()[2:].replace("    (lab only)", "") for line in out.splitlines() if line.strip().startswith("$ ")]


def assert_in_order(expected: list[str], actual: list[str]) -> None:
    # The runbook's command as written, or followed by options the tool adds (step 1 passes a
    # site's broker addresses to the script).
    def serves(command: str, line: str) -> bool:
        return line == command or line.startswith(command + " --")

    position = 0
    for command in expected:
        found = next((i for i in range(position, len(actual)) if serves(command, actual[i])), None)
        assert found is not None, f"{command!r} missing (or out of order) in the plan:\n" + "\n".join(actual)
        position = found + 1


def test_plan_prints_every_seed_command_of_sections_1_to_3_in_order():
    expected = seed_commands(("1", "3"))
    assert len(expected) == 9  # the seed's own count: 5 in section 1, 4 in section 3
    r = run("runbook-tui plan checklists/promotion.yaml --room room1", REPO)
    assert r.returncode == 0, r.stderr
    assert_in_order(expected, plan_commands(r.stdout))


def test_plan_of_section_5_has_its_commands_resolved():
    text = SEED.read_text().split("## 5)", 1)[1]
    expected = [c.replace("<room>", "room1").replace("<room-standby>", "room1-standby")
                .replace("<backup.sql.gz>", "backups/room1-primary-latest.sql.gz")
                for c in re.findall(r"`(scripts/[^`]+)`", text)]
    assert len(expected) == 4
    r = run("runbook-tui plan checklists/standby-current.yaml --room room1", REPO)
    assert r.returncode == 0, r.stderr
    assert_in_order(expected, plan_commands(r.stdout))


def test_section_2_choice_changes_the_steps():
    b = run("runbook-tui plan checklists/promotion.yaml --room room1", REPO, check=True).stdout
    a = run("runbook-tui plan checklists/promotion.yaml --room room1 --choice controller_reach=A", REPO, check=True).stdout
    c = run("runbook-tui plan checklists/promotion.yaml --room room1 --choice controller_reach=C", REPO, check=True).stdout
    assert "WARNING: mqtt.room1 cannot be repointed: promotion will be core-only" in a
    assert "[-] Repoint mqtt.room1.sentientengine.ai" in a and "[-] Move the VIP" in a
    assert re.search(r"\[ \]\s+\d+\. Repoint mqtt.room1.sentientengine.ai to the standby on the UDM Pro", b)
    assert re.search(r"\[ \]\s+\d+\. Move the VIP to the standby host", c) and "[-] Repoint" in c
    bad = run("runbook-tui plan checklists/promotion.yaml --room room1 --choice controller_reach=D", REPO)
    assert bad.returncode == 2 and "controller_reach: A/B/C" in bad.stderr


def test_plan_for_another_room_resolves_everything():
    r = run("runbook-tui plan checklists/promotion.yaml --room clockwork", REPO, check=True)
    assert "(cd infra/rooms/clockwork-standby && docker compose --env-file .env up -d --force-recreate sentient-core)" in r.stdout
    assert "{{" not in r.stdout and "room1" not in r.stdout


def test_every_condition_a_checklist_names_is_in_the_catalogue():
    for path in SHIPPED:
        checklist = load_checklist(path)
        for step in checklist.steps() + checklist.procedure_steps():
            for name in (*step.guards, step.done_when, step.condition):
                assert name is None or name in CONDITIONS
        for procedure in checklist.procedures:
            assert {procedure.trigger.when, *procedure.holds} <= set(CONDITIONS)


def test_seed_copy_is_current():
    assert SEED.is_file()
    if SHARED_SEED.is_file():
        assert SEED.read_bytes() == SHARED_SEED.read_bytes(), "checklists/source/ is behind ../shared/seed: update it"
