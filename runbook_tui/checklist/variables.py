"""Resolving a checklist's variables for one run: given values, stack .env files, defaults."""

from __future__ import annotations

from pathlib import Path

from runbook_tui.checklist.model import Checklist, ResolvedVariables, not_set, placeholders, substitute
from runbook_tui.envfile import read_env
from runbook_tui.errors import UsageError
from runbook_tui.files import OutsideRoot, inside


class VariableError(UsageError):
    """A variable has no value, or its defaults refer to each other in a loop."""


def resolve_variables(checklist: Checklist, given: dict[str, str], stack_root: Path) -> ResolvedVariables:
    unknown = sorted(set(given) - set(checklist.variables))
    if unknown:
        raise VariableError(f"{', '.join(unknown)}: not a variable of {checklist.path.name} "
                            f"(variables: {', '.join(sorted(checklist.variables))})")
    resolved = ResolvedVariables()
    for name, given_value in given.items():
        resolved.values[name] = given_value
        resolved.origins[name] = "given"
    pending = [v for v in checklist.variables.values() if v.name not in resolved.values]
    while pending:
        progressed = False
        for var in list(pending):
            if var.from_env:
                role, key = var.from_env
                dir_var = f"{role}_dir"
                if dir_var in checklist.variables and dir_var not in resolved.values:
                    continue  # the stack's directory first
                stack_dir = resolved.values.get(dir_var) or f"infra/rooms/{resolved.values.get('room', '')}-{role}"
                try:
                    env_file = inside(stack_root, Path(stack_dir) / ".env", dir_var)
                except OutsideRoot as exc:
                    raise VariableError(str(exc)) from None
                if env_file.is_file():
                    try:
                        value = read_env(env_file).get(key)
                    except OSError:
                        value = None
                    if value:
                        resolved.values[var.name] = value
                        resolved.origins[var.name] = f"{stack_dir}/.env {key}"
                        pending.remove(var)
                        progressed = True
                        continue
            if var.default is None:
                # Not set here: said where it appears; a step that needs it refuses to run.
                resolved.values[var.name] = not_set(var.name)
                resolved.origins[var.name] = "not set"
                pending.remove(var)
                progressed = True
                continue
            needed = placeholders(var.default)
            if all(n in resolved.values for n in needed):
                resolved.values[var.name] = substitute(var.default, resolved.values)
                resolved.origins[var.name] = "default"
                pending.remove(var)
                progressed = True
        if not progressed:
            names = ", ".join(v.name for v in pending)
            raise VariableError(f"the defaults of {names} refer to each other in a loop")
    return resolved
