"""Run the region's DICOM listener (Storage, Verification, Storage Commitment SCP)."""

import contextlib
import gc
import os
import signal
import socket
import ssl
import sys
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from imaging.listener import (
    AcceptorSettings,
    FlushLedger,
    HospitalDirectory,
    RegionServices,
    Server,
    SiblingLoads,
    Spooling,
    check_unflushed_files,
    file_prefix,
    open_listening_socket,
    remove_stale_spool_files,
    server_tls_context,
    supported_contexts,
)
from imaging.models import HospitalAETitle
from imaging.rendering import RenderSender, prepare_render_queue

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Set by SIGTERM/SIGINT. Installed before any fork, so a child that has not yet
# reached its serve loop still stops cleanly instead of dying mid-setup.
stop_requested = threading.Event()


def request_stop(signum: int, frame: FrameType | None) -> None:
    stop_requested.set()


class Command(BaseCommand):
    help = "Receive images from the hospitals' PACS over DICOM (C-STORE), answer C-ECHO and Storage Commitment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.DICOM_LISTENER_HOST)
        parser.add_argument("--port", type=int, default=settings.DICOM_LISTENER_PORT)
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE)
        parser.add_argument("--max-pdu", type=int, default=settings.DICOM_MAX_PDU)
        parser.add_argument("--max-associations", type=int, default=settings.DICOM_MAX_ASSOCIATIONS)
        parser.add_argument(
            "--max-connections-per-address",
            type=int,
            default=settings.DICOM_MAX_CONNECTIONS_PER_ADDRESS,
            help="connections a process holds from one source address; more are closed at once",
        )
        parser.add_argument(
            "--max-unauthenticated-connections",
            type=int,
            default=settings.DICOM_MAX_UNAUTHENTICATED_CONNECTIONS,
            help="connections a process holds before A-ASSOCIATE-AC; more are closed at once",
        )
        parser.add_argument(
            "--artim-seconds",
            type=float,
            default=settings.DICOM_ARTIM_SECONDS,
            help="from connection to A-ASSOCIATE-AC/RJ, TLS handshake included (PS3.8 9.1.5 ARTIM)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.DICOM_LISTENER_PROCESSES,
            help="listener processes sharing the port (default: one per core)",
        )
        parser.add_argument("--drain-seconds", type=float, default=30.0, help="how long a stop waits for stores")
        parser.add_argument("--tls-cert", help="serve DICOM TLS (PS3.15 B.1) with this certificate (PEM)")
        parser.add_argument("--tls-key", help="the certificate's private key (PEM); required with --tls-cert")
        parser.add_argument(
            "--tls-ca",
            help="require client certificates issued by these CAs (PEM); "
            "an AE title with a registered certificate fingerprint must present that one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, request_stop)
        processes = max(1, options["processes"] or os.cpu_count() or 1)
        self.check_networks()
        options["tls"] = self.tls_context(options)
        self.stdout.write(
            f"DICOM listener {options['ae_title']} on {options['host']}:{options['port']}"
            f"{' (TLS)' if options['tls'] else ''}, {processes} process{'es' if processes > 1 else ''}"
        )
        self.stdout.flush()
        self.check_unflushed_files()
        self.remove_stale_spool_files()
        if processes == 1:
            serve(options, open_listening_socket(options["host"], options["port"], settings.DICOM_LISTEN_BACKLOG))
            return
        children = []
        connections.close_all()  # each child opens its own
        listening = open_listening_socket(options["host"], options["port"], settings.DICOM_LISTEN_BACKLOG)
        siblings = SiblingLoads(processes)
        for index in range(processes):
            pid = os.fork()
            if pid == 0:
                code = 0
                siblings.index = index
                try:
                    serve(options, listening, siblings)
                except BaseException:  # noqa: BLE001 - a child reports and exits, never returns to the parent's code
                    code = 1
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(code)
            children.append(pid)
        supervise(children)

    def check_networks(self) -> None:
        """In production every AE title names the networks it sends from: its title alone is guessable.

        If the database cannot be read now the listener still starts (as it does
        for a short outage); it then refuses such AE titles at association.
        """
        try:
            rows = list(HospitalAETitle.objects.order_by("ae_title"))
        except DatabaseError as error:
            self.stderr.write(f"AE titles' networks not checked at start: {error}")
            return
        finally:
            connections.close_all()
        unrestricted = ", ".join(row.ae_title for row in rows if not row.has_networks)
        if unrestricted and not settings.DEBUG:
            raise CommandError(
                f"AE titles without allowed networks: {unrestricted}. Give each the networks it "
                "sends from (admin, or add_hospital --network) before starting with DEBUG off."
            )
        if unrestricted:
            self.stderr.write(f"AE titles accepted from any network because DEBUG is on: {unrestricted}")

    def tls_context(self, options: dict[str, Any]) -> ssl.SSLContext | None:
        """DICOM TLS from --tls-cert/--tls-key/--tls-ca, read before any fork so a bad file stops the start."""
        if not (options["tls_cert"] or options["tls_key"] or options["tls_ca"]):
            return None
        if not (options["tls_cert"] and options["tls_key"]):
            raise CommandError("--tls-cert and --tls-key go together (and --tls-ca needs them)")
        try:
            return server_tls_context(options["tls_cert"], options["tls_key"], options["tls_ca"])
        except (OSError, ssl.SSLError) as error:
            raise CommandError(f"cannot set up TLS: {error}") from None

    def remove_stale_spool_files(self) -> None:
        """Objects a killed listener was still receiving: never acknowledged, so the sender sends them again."""
        if settings.DICOM_SPOOL_DIR.is_dir():
            removed = remove_stale_spool_files(settings.DICOM_SPOOL_DIR)
            if removed:
                self.stderr.write(f"removed {removed} partly received objects left by a stopped listener")

    def check_unflushed_files(self) -> None:
        """Before any store: the files a crash may have cut short while they were being flushed."""
        try:
            checked = check_unflushed_files()
        except (DatabaseError, OSError) as error:
            self.stderr.write(f"files left unflushed by a crash not checked (the next start will): {error}")
            return
        finally:
            connections.close_all()
        if checked.whole or checked.rewritten or checked.removed or checked.left:
            self.stderr.write(
                f"after a crash: {checked.whole} files whole, {checked.rewritten} written again from the index, "
                f"{checked.removed} instances whose file was lost taken out of the index, "
                f"{checked.left} left for the next start (cannot be read or written now)"
            )


def serve(options: dict[str, Any], listening: socket.socket, siblings: SiblingLoads | None = None) -> None:
    """One listener process: serve until SIGTERM/SIGINT, then drain and stop."""
    directory = HospitalDirectory(open_when_unrestricted=settings.DEBUG)
    directory.refresh(force=True)
    acceptor = AcceptorSettings(
        ae_title=options["ae_title"],
        max_pdu=options["max_pdu"],
        contexts=supported_contexts(),
        max_associations=options["max_associations"],
        acse_timeout=options["artim_seconds"],
        max_connections_per_address=options["max_connections_per_address"],
        max_unauthenticated=options["max_unauthenticated_connections"],
        file_prefix=file_prefix,
        tls=options["tls"],
        spooling=Spooling(settings.DICOM_SPOOL_DIR, settings.DICOM_SPOOL_ABOVE_BYTES),
    )
    ledger = FlushLedger().start()
    # No C-STORE answer waits for the broker. One process sweeps: a listener killed lost its pending renders.
    renders = RenderSender().start(sweep=siblings is None or siblings.index == 0)
    services = RegionServices(directory, ledger, renders)
    server = Server(listening, acceptor, services, shared=siblings is not None, siblings=siblings)
    prepare_render_queue()
    # Django, pydicom and pynetdicom leave ~10^5 long-lived objects; the
    # collector need not walk them again on each full collection.
    gc.freeze()
    for number in STOP_SIGNALS:
        signal.signal(number, request_stop)
    threading.Thread(target=server.serve_forever, name="dicom-accept", daemon=True).start()
    sys.stdout.write(f"listener process {os.getpid()} accepting\n")
    sys.stdout.flush()
    while not stop_requested.wait(timeout=1.0):
        pass
    # No new associations; stores in progress finish, new ones are told to retry.
    server.shutdown()
    services.stopping = True
    services.wait_until_idle(options["drain_seconds"])
    server.abort_all()
    renders.stop()
    ledger.stop()
    connections.close_all()


def supervise(children: list[int]) -> None:
    """Forward stop signals to the children and wait for all of them."""

    def forward(signum: int, frame: FrameType | None) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for number in STOP_SIGNALS:
        signal.signal(number, forward)
    failed = False
    for pid in children:
        _, code = os.waitpid(pid, 0)
        failed = failed or code != 0
    sys.exit(1 if failed else 0)
