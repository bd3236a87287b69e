"""The drop-folder reader: complete deliveries only, verified like a download, handed over
once, refused ones set aside with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from adapters_support import SENDER, Keys, full_document, transit_delivery

from adapters.drop_folder import DropFolderReader
from adapters.verification import Delivered, VerifiedDelivery
from schemas.files import write_atomically, write_delivery


def reader(directory: Path, keys: Keys) -> DropFolderReader:
    return DropFolderReader(
        directory,
        axis_certificate=keys.axis.certificate,
        sender_certificates={SENDER: [keys.ec.certificate]},
        trust=keys.trust,
    )


def test_verified_deliveries_are_handed_over_once_and_bad_ones_set_aside(
    tmp_path: Path, keys: Keys
) -> None:
    envelope, evidence = transit_delivery(keys)
    write_delivery(tmp_path, "d-1", envelope, evidence)
    write_delivery(tmp_path, "d-2", envelope.replace(b"</edXML>", b"<!-- x --></edXML>"), evidence)
    write_atomically(tmp_path / "d-3.evidence.xml", evidence)  # the envelope not written yet
    (tmp_path / ".incoming-abc").write_bytes(envelope)  # a file being written
    folder = reader(tmp_path, keys)
    assert folder.pending() == ["d-1", "d-2"]
    handed: list[tuple[Delivered, VerifiedDelivery]] = []
    taken = folder.take(lambda delivered, verified: handed.append((delivered, verified)))
    assert [(t.delivery_id, t.verified is not None) for t in taken] == [
        ("d-1", True),
        ("d-2", False),
    ]
    [(delivered, verified)] = handed
    assert (delivered.delivery_id, delivered.envelope) == ("d-1", envelope)
    assert verified.message.document_id == full_document().document_id
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == [
        "d-1.edxml",
        "d-1.evidence.xml",
    ]
    assert taken[1].refusal is not None and "SignatureError" in taken[1].refusal
    refused = tmp_path / "refused"
    assert (refused / "d-2.refused.txt").read_text() == taken[1].refusal
    assert (refused / "d-2.edxml").is_file() and (refused / "d-2.evidence.xml").is_file()
    assert folder.pending() == []
    assert folder.take(lambda delivered, verified: handed.append((delivered, verified))) == []
    assert len(handed) == 1


def test_a_delivery_whose_handler_fails_stays_pending(tmp_path: Path, keys: Keys) -> None:
    write_delivery(tmp_path, "d-1", *transit_delivery(keys))
    folder = reader(tmp_path, keys)

    def fail(delivered: Delivered, verified: VerifiedDelivery) -> None:
        raise RuntimeError("the DMS is down")

    with pytest.raises(RuntimeError):
        folder.take(fail)
    assert folder.pending() == ["d-1"]
    assert [t.delivery_id for t in folder.take(lambda d, v: None)] == ["d-1"]
    assert folder.pending() == []


def test_a_delivery_with_no_evidence_is_refused(tmp_path: Path, keys: Keys) -> None:
    envelope, _ = transit_delivery(keys)
    write_atomically(tmp_path / "d-1.edxml", envelope)
    [taken] = reader(tmp_path, keys).take(lambda d, v: None)
    assert taken.refusal is not None and "FileNotFoundError" in taken.refusal
    assert (tmp_path / "refused" / "d-1.edxml").read_bytes() == envelope
