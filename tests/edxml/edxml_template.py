"""Tiny hand-written edXML envelopes for the rule and limit tests.

Why a template: each test changes one thing in an otherwise valid envelope, so the error
it expects can only come from that change. One element per line, so line numbers in
errors can be checked with `line_of`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
PAYLOAD = b"hello, edXML\n"
PAYLOAD_B64 = base64.b64encode(PAYLOAD).decode()

DEFAULT_TRACE = """\
      <TraceHeader>
        <OrganId>000.00.00.G22</OrganId>
        <Timestamp>2024/01/02 08:30:00</Timestamp>
      </TraceHeader>"""

DEFAULT_BUSINESS = """\
      <Bussiness>
        <DocumentId>000.00.00.G22,2024/01/02,12/ABC</DocumentId>
        <BussinessDocType>0</BussinessDocType>
        <BussinessDocReason>new</BussinessDocReason>
        <Paper>0</Paper>
      </Bussiness>"""

DS_SIGNATURE = f"""\
    <ds:Signature xmlns:ds="{DS}">
      <ds:SignedInfo/>
      <ds:SignatureValue>AAAA</ds:SignatureValue>
    </ds:Signature>"""


def organization(tag: str, organ_id: str, name: str = "Agency") -> str:
    return f"""\
      <{tag}>
        <OrganId>{organ_id}</OrganId>
        <OrganName>{name}</OrganName>
      </{tag}>"""


def reference(content_id: str = "cid:1", name: str = "a.txt") -> str:
    return f"""\
      <Reference>
        <ContentId>{content_id}</ContentId>
        <ContentType>text/plain</ContentType>
        <AttachmentName>{name}</AttachmentName>
      </Reference>"""


def attachment(content_id: str = "cid:1", content: str = PAYLOAD_B64, name: str = "a.txt") -> str:
    return f"""\
    <Attachment>
      <ContentId>{content_id}</ContentId>
      <AttachmentName>{name}</AttachmentName>
      <ContentType>text/plain</ContentType>
      <ContentTransferEncoded>{content}</ContentTransferEncoded>
    </Attachment>"""


def document(
    *,
    from_id: str = "000.00.00.G22",
    to_ids: Sequence[str] = ("000.00.00.H41",),
    document_id: str | None = "000.00.00.G22,2024/01/02,12/ABC",
    promulgation_date: str = "2024/01/02",
    subject: str = "Test document",
    header_extra: str = "",
    trace: str = DEFAULT_TRACE,
    business: str = DEFAULT_BUSINESS,
    signature: str = "",
    references: Sequence[str] | None = None,
    attachments: Sequence[str] | None = None,
) -> bytes:
    """A valid document envelope unless an argument breaks it."""
    recipients = "\n".join(organization("To", organ_id) for organ_id in to_ids)
    identifier = "" if document_id is None else f"      <DocumentId>{document_id}</DocumentId>\n"
    manifest = "\n".join(references if references is not None else [reference()])
    files = "\n".join(attachments if attachments is not None else [attachment()])
    text = f"""\
<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
<edXMLEnvelope>
  <edXMLHeader>
    <MessageHeader>
{organization("From", from_id, "Sender")}
{recipients}
{identifier}\
      <Code>
        <CodeNumber>12</CodeNumber>
        <CodeNotation>ABC</CodeNotation>
      </Code>
      <PromulgationInfo>
        <Place>Hà Nội</Place>
        <PromulgationDate>{promulgation_date}</PromulgationDate>
      </PromulgationInfo>
      <DocumentType>
        <Type>1</Type>
        <TypeName>Công văn</TypeName>
      </DocumentType>
      <Subject>{subject}</Subject>
{header_extra}
    </MessageHeader>
    <TraceHeaderList>
{trace}
{business}
    </TraceHeaderList>
{signature}
  </edXMLHeader>
  <edXMLBody>
    <edXMLManifest version="1.0">
{manifest}
    </edXMLManifest>
  </edXMLBody>
</edXMLEnvelope>
<AttachmentEncoded>
{files}
</AttachmentEncoded>
</edXML>
"""
    return text.encode("utf-8")


def status(
    *,
    code: str = "05",
    code_tag: str = "StatusCode",
    response_organ: str = "000.00.00.G22",
    document_id: str | None = "000.00.00.G22,2024/01/02,12/ABC",
    timestamp: str = "2024/01/03 09:00:00",
    signature: str = "",
    after_header: str = "",
) -> bytes:
    """A valid status message unless an argument breaks it."""
    identifier = "" if document_id is None else f"        <DocumentId>{document_id}</DocumentId>\n"
    text = f"""\
<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
<edXMLEnvelope>
  <edXMLHeader>
    <MessageHeader>
{organization("From", "000.00.00.H41", "Receiver")}
      <ResponseFor>
        <OrganId>{response_organ}</OrganId>
        <Code>12/ABC</Code>
        <PromulgationDate>2024/01/02</PromulgationDate>
{identifier}\
      </ResponseFor>
      <StaffInfo>
        <Department>Văn thư</Department>
        <Staff>Nguyễn Văn A</Staff>
      </StaffInfo>
      <{code_tag}>{code}</{code_tag}>
      <Description>Đang xử lý</Description>
      <Timestamp>{timestamp}</Timestamp>
    </MessageHeader>
{signature}
  </edXMLHeader>
{after_header}
</edXMLEnvelope>
</edXML>
"""
    return text.encode("utf-8")


def line_of(data: bytes, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th `needle` in `data`."""
    offset = -1
    for _ in range(occurrence):
        offset = data.index(needle.encode("utf-8"), offset + 1)
    return data.count(b"\n", 0, offset) + 1
