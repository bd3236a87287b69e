"""Sample agencies for `axis demo`: a dozen agencies' systems in one process, sending one
another signed documents at a steady pace and answering each one with statuses (arrived,
processing, completed), each receiving the way it is registered.

Why here, on the agency side: these are what real agencies run, built only on the agency
package (`adapters.client`, `adapters.receiver`, `adapters.drop_folder`), so the demo
shows the axis from outside, as an agency's system sees it; this module imports nothing
from `axis`. A pull agency polls its inbox, downloads, verifies and acknowledges; a push
agency serves `adapters.receiver.PushReceiver` on the socket it was handed; a file-drop
agency reads the folder the axis writes into; both verify what arrives with
`DropFolderReader`. One endpoint answers 503 to everything, so the axis retries and gives
up. The first document goes from the first agency to every other one, so each kind of
delivery happens at once; then random senders write to one or two others.

`python -m adapters.sample_agencies PLAN` (`schemas.demo_plan.DemoPlan`, written by `axis
demo`). It stops on SIGINT or SIGTERM, and when its standard input closes: the demo that
started it is gone, whichever way it ended.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from adapters.client import AgencyClient, AxisError, AxisUnreachable, SendResult
from adapters.drop_folder import DropFolderReader
from adapters.edxml_builder import (
    Code,
    DocumentType,
    Organization,
    OutgoingDocument,
    OutgoingStatus,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
)
from adapters.receiver import PushReceiver
from adapters.verification import Delivered, VerifiedDelivery
from schemas.demo_plan import DemoPlan, SampleAgency, SampleDelivery
from schemas.edxml import DocumentEnvelope, EnvelopeError
from schemas.edxml.rules import VIETNAM_TIME
from signing.certificates import TrustStore
from signing.devagencies import dev_agency_signer
from signing.errors import SignatureError
from signing.keys import load_certificate, load_certificates

logger = logging.getLogger("sample-agencies")

POLL_SECONDS = 1.0
"""How often a pull agency reads its inbox and a folder agency its folder."""
STOP_SECONDS = 5.0
"""How long the push endpoints get to finish their requests when the agencies stop."""
STATUS_STEPS = (
    (StatusCode.ARRIVED, "Văn bản đã đến", 0.5, 2.0, 1.0),
    (StatusCode.PROCESSING, "Đang xử lý văn bản đến", 2.0, 6.0, 0.5),
    (StatusCode.COMPLETED, "Đã hoàn thành xử lý văn bản", 3.0, 10.0, 1.0),
)
"""What a recipient answers: code, description, wait (from, to, in seconds), how often."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: this process stops its servers itself."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _always_unavailable() -> Starlette:
    """A push endpoint that never works: the axis retries it, then gives up."""

    async def unavailable(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(
            {"title": "Hệ thống đang bảo trì", "status": 503},
            status_code=503,
            media_type="application/problem+json",
        )

    return Starlette(routes=[Route("/", unavailable, methods=["POST"])])


class SampleAgencies:
    """The agencies of one plan: their clients, endpoints and the tasks that keep them busy."""

    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan
        self.trust = TrustStore(load_certificates(plan.trust_roots_pem.encode()))
        self.axis_certificate = load_certificate(plan.axis_certificate_pem.encode())
        self.certificates = {
            agency.code: [load_certificate(agency.certificate_pem.encode())]
            for agency in plan.agencies
        }
        self.clients = {
            agency.code: AgencyClient(
                plan.axis_url,
                agency.token,
                dev_agency_signer(plan.dev_key_dir, agency.code),
                self.axis_certificate,
                timeout=30.0,
            )
            for agency in plan.agencies
        }
        self.random = random.Random()
        self.numbers = itertools.count(int(time.time()) % 100_000 * 10)
        """Document numbers from the clock, so a later run (below 10 documents a second) sends
        no DocumentId an earlier one used (the axis answers 409 to one with other bytes)."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.busy: set[asyncio.Task[Any]] = set()
        """Tasks in the middle of a request that changes something: let them finish."""
        self.stopping = False
        self.servers: list[tuple[_Server, asyncio.Task[None]]] = []

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def start(self) -> None:
        """Serve the push endpoints, then start receiving and sending."""
        for agency in self.plan.agencies:
            if agency.delivery is SampleDelivery.PUSH:
                assert agency.folder is not None and agency.push_secret is not None
                await self._serve(agency, PushReceiver(agency.folder, agency.push_secret))
                self._spawn(self._watch_folder(agency))
            elif agency.delivery is SampleDelivery.FAILING_PUSH:
                await self._serve(agency, _always_unavailable())
            elif agency.delivery is SampleDelivery.FILE_DROP:
                self._spawn(self._watch_folder(agency))
            else:
                self._spawn(self._poll_inbox(agency))
        self._spawn(self._send_forever())

    async def _serve(self, agency: SampleAgency, app: ASGIApp) -> None:
        assert agency.listen_fd is not None
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        server = _Server(config)
        listening = socket.socket(fileno=agency.listen_fd)
        self.servers.append((server, asyncio.create_task(server.serve(sockets=[listening]))))

    @contextmanager
    def _busy(self) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self.busy.add(task)
        try:
            yield
        finally:
            self.busy.discard(task)

    async def stop(self) -> None:
        """Let the requests under way finish (bounded: the axis then sees no body cut off
        half-sent), stop sending and receiving, then the endpoints (bounded), then the
        clients."""
        self.stopping = True
        if self.busy:
            await asyncio.wait(set(self.busy), timeout=STOP_SECONDS)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for server, _ in self.servers:
            server.should_exit = True
        serving = [task for _, task in self.servers]
        if serving:
            _, late = await asyncio.wait(serving, timeout=STOP_SECONDS)
            for task in late:
                task.cancel()
        for client in self.clients.values():
            await client.aclose()

    # Sending

    def _organization(self, agency: SampleAgency) -> Organization:
        return Organization(organ_id=agency.code, organ_name=agency.name)

    async def _send_forever(self) -> None:
        """One document every 1/rate seconds, each sent in a task of its own, so a slow
        answer does not slow the pace."""
        first, *others = self.plan.agencies
        self._spawn(self._send_document(first, others))
        while True:
            await asyncio.sleep(1 / self.plan.documents_per_second)
            sender = self.random.choice(self.plan.agencies)
            candidates = [a for a in self.plan.agencies if a.code != sender.code]
            recipients = self.random.sample(candidates, self.random.choice((1, 1, 2)))
            self._spawn(self._send_document(sender, recipients))

    async def _send_document(self, sender: SampleAgency, recipients: list[SampleAgency]) -> None:
        kind = self.random.choice(self.plan.documents)
        signer = self.random.choice(self.plan.signers)
        today = datetime.now(VIETNAM_TIME).date()
        number = str(next(self.numbers))
        notation = f"{sender.abbreviation}-VP"
        document = OutgoingDocument(
            sender=self._organization(sender),
            recipients=[self._organization(r) for r in recipients],
            document_id=f"{sender.code},{today:%Y/%m/%d},{number}/{notation}",
            code=Code(code_number=number, code_notation=notation),
            promulgation=PromulgationInfo(place=sender.place, promulgation_date=today),
            document_type=DocumentType(type=kind.type, type_name=kind.type_name),
            subject=kind.subject,
            signer_info=SignerInfo(
                competence="KT. THỦ TRƯỞNG CƠ QUAN",
                position=signer.position,
                full_name=signer.full_name,
            ),
        )
        await self._send(sender, self.clients[sender.code].send_document, document)

    async def _send(
        self,
        sender: SampleAgency,
        send: Callable[[Any], Awaitable[SendResult]],
        message: OutgoingDocument | OutgoingStatus,
    ) -> None:
        if self.stopping:
            return
        try:
            with self._busy():
                await send(message)
        except (AxisError, AxisUnreachable) as exc:
            logger.warning("%s could not send: %s", sender.code, exc)

    # Receiving

    async def _poll_inbox(self, agency: SampleAgency) -> None:
        """List, download, verify and acknowledge; the last page (not full) is read again
        until it fills, so nothing delivered later is passed over."""
        client = self.clients[agency.code]
        cursor: str | None = None
        while True:
            try:
                page = await client.inbox_page(limit=100, cursor=cursor)
                for item in page.deliveries:
                    if self.stopping:
                        return
                    if item.state == "delivered":
                        with self._busy():
                            await self._take_pulled(agency, client, item.delivery_id)
            except (AxisError, AxisUnreachable) as exc:
                logger.warning("%s could not read its inbox: %s", agency.code, exc)
            else:
                if page.next_cursor:
                    cursor = page.next_cursor
                    continue
            await asyncio.sleep(POLL_SECONDS)

    async def _take_pulled(self, agency: SampleAgency, client: AgencyClient, delivery: str) -> None:
        delivered = await client.download(delivery)
        try:
            message = await client.verify_delivered(delivered, self.certificates, self.trust)
        except (SignatureError, EnvelopeError) as exc:
            await client.ack(delivery, "fail", str(exc)[:500])
            logger.warning("%s refused %s: %s", agency.code, delivery, exc)
            return
        await client.ack(delivery, "done")
        if isinstance(message, DocumentEnvelope):
            self._spawn(self._answer(agency, message))

    async def _watch_folder(self, agency: SampleAgency) -> None:
        """Take what the push endpoint stored or the axis dropped, verified, into `done/`."""
        assert agency.folder is not None
        reader = DropFolderReader(
            agency.folder,
            axis_certificate=self.axis_certificate,
            sender_certificates=self.certificates,
            trust=self.trust,
        )

        def hand_over(delivered: Delivered, verified: VerifiedDelivery) -> None:
            """The DMS has it once it is in `done/`: nothing more to do here."""

        while True:
            for taken in await anyio.to_thread.run_sync(reader.take, hand_over):
                if taken.verified is None:
                    logger.warning(
                        "%s refused %s: %s", agency.code, taken.delivery_id, taken.refusal
                    )
                elif isinstance(taken.verified.message, DocumentEnvelope):
                    self._spawn(self._answer(agency, taken.verified.message))
            await asyncio.sleep(POLL_SECONDS)

    async def _answer(self, agency: SampleAgency, document: DocumentEnvelope) -> None:
        """The statuses a recipient's clerks would send, a few seconds apart."""
        header = document.header
        answered = ResponseFor(
            organ_id=document.sender_id,
            code=f"{header.code.code_number}/{header.code.code_notation}",
            promulgation_date=header.promulgation_info.promulgation_date,
            document_id=document.document_id,
        )
        clerk = self.random.choice(self.plan.signers).full_name
        client = self.clients[agency.code]
        for code, description, earliest, latest, how_often in STATUS_STEPS:
            if self.random.random() >= how_often:
                continue
            await asyncio.sleep(self.random.uniform(earliest, latest))
            status = OutgoingStatus(
                sender=self._organization(agency),
                response_for=answered,
                status_code=code,
                staff_info=StaffInfo(department="Văn thư", staff=clerk),
                description=description,
            )
            await self._send(agency, client.send_status, status)


async def _stop_when_input_closes(stop: asyncio.Event) -> None:
    """The demo holds our standard input open: when it ends, however, so do we."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    stop.set()


async def run(plan: DemoPlan) -> None:
    """Run the plan's agencies until SIGINT, SIGTERM or the end of standard input."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    watching = asyncio.create_task(_stop_when_input_closes(stop))
    agencies = SampleAgencies(plan)
    try:
        await agencies.start()
        await stop.wait()
    finally:
        watching.cancel()
        await agencies.stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="sample agencies: %(message)s")
    [plan_file] = sys.argv[1:]
    asyncio.run(run(DemoPlan.model_validate_json(Path(plan_file).read_bytes())))


if __name__ == "__main__":
    main()
