"""OfflineWriter: a grounded, repeatable description from the facts, labelled as not AI-generated."""

from __future__ import annotations

from vitrine.adapters.local.offline_writer import LABEL, OfflineWriter
from vitrine.kernel.ports import TextWriter

FACTS = {
    "category": "shirt",
    "material": "cotton",
    "fit": "slim-fit",
    "collar": "button-down",
    "sleeve_length": "long",
    "pattern": "not visible",
    "pockets": True,
    "colors": ["white", "unknown", "navy"],
}


def test_offline_writer_describes_the_facts_and_says_it_is_offline() -> None:
    written = OfflineWriter().write("Write a short description.", FACTS)

    assert written.text == (
        "A slim-fit cotton shirt. Collar: button-down. Colors: white, navy. Pockets: yes. "
        "Sleeve length: long."
    )
    assert written.writer == LABEL == "offline (not AI-generated)"


def test_offline_writer_is_deterministic_and_leaves_out_what_was_not_visible() -> None:
    writer = OfflineWriter()

    first = writer.write("", FACTS)
    reordered = writer.write("other instructions", dict(reversed(FACTS.items())))

    assert reordered.text == first.text
    assert "visible" not in first.text and "unknown" not in first.text


def test_offline_writer_without_facts_still_writes_a_sentence() -> None:
    writer = OfflineWriter()

    assert isinstance(writer, TextWriter)
    assert writer.write("", {}).text == "An item."
    assert writer.write("", {"category": "overcoat", "color": "olive"}).text == "An olive overcoat."
