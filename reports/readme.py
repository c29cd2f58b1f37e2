"""Generated sections of the README: the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
is replaced by a report, so that no number in the README is typed by hand."""

from __future__ import annotations

from pathlib import Path

from network.files import atomic_write

README = Path(__file__).resolve().parents[1] / "README.md"


def update_section(readme: Path, name: str, text: str) -> None:
    """Replace the section ``name`` of ``readme`` with ``text``; a missing marker is an error."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = readme.read_text()
    if start not in content or end not in content:
        raise ValueError(f"{readme}: no {start} ... {end} markers to replace")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    with atomic_write(readme, "w") as f:
        f.write(f"{head}{start}\n{text.strip()}\n{end}{tail}")
