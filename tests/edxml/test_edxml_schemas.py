"""The XSDs ship in `schemas/xsd`, compile once, offline, and validate the real samples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

import schemas
from schemas.loader import DOCUMENT_XSD, STATUS_XSD, document_schema, status_schema

SAMPLES = Path(__file__).parent / "samples"
XSD_FILES = ["edxml-common.xsd", DOCUMENT_XSD, STATUS_XSD]


def test_schema_files_are_in_xsd_dir() -> None:
    for name in [*XSD_FILES, "README.md"]:
        assert (schemas.XSD_DIR / name).is_file(), name


def test_schemas_are_compiled_once() -> None:
    assert document_schema() is document_schema()
    assert status_schema() is status_schema()
    assert document_schema() is not status_schema()


@pytest.mark.parametrize("name", XSD_FILES)
def test_schemas_never_reach_for_the_network(name: str) -> None:
    text = (schemas.XSD_DIR / name).read_text(encoding="utf-8")
    assert "xs:import" not in text and "xs:redefine" not in text
    for location in re.findall(r'schemaLocation="([^"]*)"', text):
        assert location in XSD_FILES, location
    assert 'processContents="lax"' not in text  # lax would look for declarations


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("bkav_edoc_new.edxml", document_schema),
        ("bkav_edoc_update.edxml", document_schema),
        ("lgsp_edoc_new.edxml", document_schema),
        ("lgsp_edoc_3_recipients.edxml", document_schema),
        ("bkav_status_processing_05.edxml", status_schema),
    ],
)
def test_samples_are_valid(name: str, schema: object) -> None:
    assert callable(schema)
    tree = etree.parse(str(SAMPLES / name))
    compiled = schema()
    assert compiled.validate(tree), compiled.error_log


def test_a_status_is_not_a_document_and_vice_versa() -> None:
    status_tree = etree.parse(str(SAMPLES / "bkav_status_processing_05.edxml"))
    document_tree = etree.parse(str(SAMPLES / "lgsp_edoc_3_recipients.edxml"))
    assert not document_schema().validate(status_tree)
    assert not status_schema().validate(document_tree)


def test_readme_documents_the_tolerances() -> None:
    readme = (schemas.XSD_DIR / "README.md").read_text(encoding="utf-8")
    for word in ("Bussiness", "Business", "StatusCode", "Status", "xmldsig", "TraceHeader", "zip"):
        assert word in readme, word
