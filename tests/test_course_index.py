"""The course index, solutions/00_start_here.ipynb: its chapter map links every chapter (to files that
exist in solutions/ and notebooks/), its times agree with the chapters' own `**Estimated time:**`
lines, and it runs `doctor.run()`. Reads the notebooks only; executes nothing."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "solutions" / "00_start_here.ipynb"
CHAPTERS = sorted(p for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00_"))
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+\.ipynb)\)")
TIME = re.compile(r"\*\*Estimated time:\*\*\s*(?:about\s+)?(\d+)\s*min")


def _markdown(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def _map_rows() -> dict[str, str]:
    """The chapter map's table rows, keyed by the notebook each row links to."""
    rows = {}
    for line in _markdown(INDEX).splitlines():
        if line.startswith("|") and (m := LINK.search(line.split("|")[1])):
            assert m.group(2) not in rows, f"the chapter map has two rows for {m.group(2)}"
            rows[m.group(2)] = line
    return rows


def _row_minutes(row: str) -> int:
    """The minutes in a row's time column ("75 min")."""
    times = [int(m.group(1)) for cell in row.strip("|").split("|") if (m := re.fullmatch(r"\s*(\d+)\s*min\s*", cell))]
    assert len(times) == 1, f"expected one 'NN min' cell in the row: {row}"
    return times[0]


def test_there_are_twelve_chapters_besides_the_index():
    assert [p.name[:2] for p in CHAPTERS] == [f"{i:02d}" for i in range(1, 13)]


def test_the_map_links_every_chapter_in_order():
    rows = _map_rows()
    assert list(rows) == [p.name for p in CHAPTERS], "the chapter map's rows and solutions/NN_*.ipynb differ"
    for path in CHAPTERS:
        text = LINK.search(rows[path.name].split("|")[1]).group(1)
        assert text.startswith(path.name[:2] + " "), f"the link to {path.name} should start with its number: {text!r}"


def test_every_notebook_link_in_the_index_exists_for_learners_and_in_solutions():
    targets = {m.group(2) for m in LINK.finditer(_markdown(INDEX))}
    assert targets, "the index links no notebook"
    for target in sorted(targets):
        assert "/" not in target, f"{target}: link relative to the notebook's own folder, e.g. 01_feature_maps.ipynb"
        for folder in ("solutions", "notebooks"):
            assert (ROOT / folder / target).exists(), f"the index links {target}, missing in {folder}/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_the_maps_time_is_the_chapters_own(path):
    own = TIME.search(_markdown(path))
    assert own, f"{path.name}: no '**Estimated time:** ... NN minutes' line"
    assert _row_minutes(_map_rows()[path.name]) == int(own.group(1)), (
        f"{path.name} says {own.group(0)!r}; update the chapter map in 00_start_here.ipynb")


def test_the_index_has_its_own_time_and_sections():
    text = _markdown(INDEX)
    assert text.startswith("# Chapter 00 — Start here")
    assert TIME.search(text)
    for heading in ("## Objectives", "## Recap", "## Where to go next"):
        assert heading in text


def test_the_index_runs_the_doctor():
    cells = [c for c in nbformat.read(INDEX, as_version=4).cells if c.cell_type == "code"]
    doctor = [c for c in cells if re.search(r"\bdoctor\.run\(\)", c.source)]
    assert doctor, "no code cell calls doctor.run()"
    assert "from cvcourse import doctor" in "\n".join(c.source for c in cells)
    # versions and paths differ per machine: nbval must not compare that cell's output
    assert all("nbval-ignore-output" in c.metadata.get("tags", []) for c in doctor)
