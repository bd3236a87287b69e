"""What the kernel says of processes, from /proc: their state and who is below whom. Tests
that kill a process tree wait on it, since a child outlives its parent for a moment."""

from __future__ import annotations

from pathlib import Path


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # gone
    return fields[0], int(fields[1])


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of `pid` (T: stopped, Z: dead, not yet reaped), or
    None once it is gone."""
    found = _state_and_parent(pid)
    return None if found is None else found[0]


def alive(pid: int) -> bool:
    """`pid` exists and is not a zombie (which runs nothing more)."""
    return process_state(pid) not in (None, "Z")


def descendants(ancestor: int) -> set[int]:
    """The live pids under `ancestor` (its children, theirs...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _state_and_parent(int(entry.name))
            if found is not None and found[0] != "Z":
                parents[int(entry.name)] = found[1]
    below = {ancestor}
    while grown := {pid for pid, parent in parents.items() if parent in below} - below:
        below |= grown
    return below - {ancestor}
