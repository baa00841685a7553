"""The project speaks of itself: no lab notes (a session or an issue named by its number) in its code, tests or docs.

History lives in git; a reader of a file meets what the code is, not the order it was made in.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB_NOTE = re.compile(r"\b(sessions?|issues?)\s+#?\d", re.IGNORECASE)
TEXT = (".py", ".md", ".js", ".json", ".toml", ".txt", ".html", ".css")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.splitlines() if f.endswith(TEXT) and (ROOT / f).is_file()]


def lab_notes(text: str) -> list[str]:
    flat = re.sub(r"\s+", " ", text)  # a note broken over two lines counts too
    return [flat[max(0, m.start() - 40):m.end() + 20] for m in LAB_NOTE.finditer(flat)]


def test_the_scanner_finds_notes_across_line_breaks():
    n = 13  # the notes are assembled here, so this file holds none of them itself
    assert lab_notes(f"as measured in issue {n}'s run") and lab_notes(f"(docs/X.md, session\n  {n})")
    assert lab_notes(f"Sessions {n}-{n + 1}") and lab_notes(f"see issue #{n}")
    assert not lab_notes("a live session's record; the session id; issues a warning")


def test_no_session_or_issue_numbers_in_the_project():
    files = tracked_text_files()
    assert len(files) > 50, "git ls-files found too few files"
    found = {str(f.relative_to(ROOT)): notes for f in files if (notes := lab_notes(f.read_text(errors="replace")))}
    assert not found, f"lab notes (history belongs in git): {found}"
