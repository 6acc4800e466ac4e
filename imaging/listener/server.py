"""Accepting associations from the listening socket, one thread each, across the listener's processes."""

import logging
import multiprocessing
import select
import socket
import ssl
import threading
import time

from imaging.listener.association import AcceptorSettings, Association, Services

logger = logging.getLogger(__name__)


class SiblingLoads:
    """How busy each listener process sharing the socket is, in memory they share (made before the fork).

    Per process: its associations established or negotiating, and when it last
    accepted (time.monotonic, one clock for all processes). Written on each
    association's start and end, read before each accept: never per PDU.
    """

    def __init__(self, processes: int) -> None:
        self._busy = multiprocessing.RawArray("i", processes)
        self._accepted = multiprocessing.RawArray("d", processes)
        self.index = 0  # this process's slot, set in the child after the fork

    def publish(self, busy: int) -> None:
        self._busy[self.index] = busy

    def accepted(self, when: float) -> None:
        self._accepted[self.index] = when

    def least_busy_sibling(self, fresh_window: float) -> int:
        """The least load among the other processes, a connection accepted within `fresh_window` counting as one."""
        now = time.monotonic()
        return min(
            (
                self._busy[index] + (now - self._accepted[index] < fresh_window)
                for index in range(len(self._busy))
                if index != self.index
            ),
            default=0,
        )


class Server:
    """Accepts associations from a listening socket, one thread each.

    Several listener processes may share the socket (opened before they fork).
    A process that is busy with associations lets an idle sibling take the next
    connection first, so two senders end up on two processes (and two cores)
    instead of wherever the kernel's wake-up order sends them. Busy means
    associations established or negotiating, and a connection accepted in the
    last 50 ms (two senders that start together come a few ms apart, before
    the first one's A-ASSOCIATE-RQ is read). A silent connection stops counting
    then (hundreds of them once made every process pause seconds per accept),
    and ARTIM closes it (PS3.8 9.1.5). With `siblings`, a process pauses only
    if a sibling is less busy, so a burst of connections is taken at full speed.
    """

    busy_delay = 0.05  # seconds per association in progress: enough for an idle sibling to wake
    longest_pause = 0.2  # however busy: a sender waits no longer to be accepted
    fresh_window = 0.05  # a connection just accepted counts as busy for this long

    def __init__(
        self,
        sock: socket.socket,
        settings: AcceptorSettings,
        services: Services,
        shared: bool,
        siblings: SiblingLoads | None = None,
    ) -> None:
        self.sock = sock
        self.settings = settings
        self.services = services
        self.shared = shared
        self.siblings = siblings  # without it, a shared socket's siblings are taken to be idle
        self._last_accept = 0.0
        self._associations: set[Association] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.2)
                if ready:
                    self._accept_one()
        finally:
            self._stopped.set()

    def _accept_one(self) -> None:
        if self.shared:
            self._give_way()
        try:
            conn, address = self.sock.accept()
        except (BlockingIOError, InterruptedError):  # a sibling took it
            return
        self._last_accept = time.monotonic()
        if self.siblings is not None:
            self.siblings.accepted(self._last_accept)
        refusal = self._refusal(address[0])
        if refusal:
            logger.warning("closing a connection from %s at once: %s", address[0], refusal)
            conn.close()
            return
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.settings.tls is not None:  # the handshake is the association thread's: a slow peer cannot stall accept
            conn = self.settings.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        association = Association(conn, address, self.settings, self)
        with self._lock:
            self._associations.add(association)
        threading.Thread(target=association.run, name=f"association-{address[0]}:{address[1]}", daemon=True).start()

    def _give_way(self) -> None:
        """Pause before accept in proportion to how much busier this process is than its least busy sibling."""
        busy = self.busy_count() + (time.monotonic() - self._last_accept < self.fresh_window)
        least = self.siblings.least_busy_sibling(self.fresh_window) if self.siblings is not None else 0
        if busy > least:
            time.sleep(min(self.busy_delay * (busy - least), self.longest_pause))

    def publish_load(self) -> None:
        """Tell the sibling processes how busy this one is now (an association started or ended)."""
        if self.siblings is not None:
            self.siblings.publish(self.busy_count())

    def _refusal(self, host: str) -> str | None:
        """Why a new connection from `host` is closed unread: one of this process's caps is reached.

        Each connection holds a thread, and before A-ASSOCIATE-AC nobody has
        been trusted; closing beats an A-ASSOCIATE-RJ, which needs the request read.
        """
        with self._lock:
            open_ = [association for association in self._associations if association.is_open]
        if sum(1 for association in open_ if association.address[0] == host) >= (
            self.settings.max_connections_per_address
        ):
            return f"{self.settings.max_connections_per_address} connections from this address"
        if sum(1 for association in open_ if not association.is_established) >= self.settings.max_unauthenticated:
            return f"{self.settings.max_unauthenticated} connections not yet associated"
        return None

    def established_count(self) -> int:
        with self._lock:
            return sum(1 for association in self._associations if association.is_established and association.is_open)

    def busy_count(self) -> int:
        """Associations established or negotiating: two senders that start together come a few ms apart."""
        with self._lock:
            return sum(
                1
                for association in self._associations
                if association.is_open and (association.is_established or association.is_negotiating)
            )

    def open_count(self) -> int:
        """Associations accepted and not yet ended, established or not."""
        with self._lock:
            return sum(1 for association in self._associations if association.is_open)

    def associations(self) -> list[Association]:
        with self._lock:
            return list(self._associations)

    def forget(self, association: Association) -> None:
        with self._lock:
            self._associations.discard(association)
        self.publish_load()

    def shutdown(self) -> None:
        """Stop accepting; associations in progress carry on."""
        self._stopping.set()
        self._stopped.wait(timeout=5)

    def abort_all(self) -> None:
        for association in self.associations():
            association.abort()


def open_listening_socket(host: str, port: int, backlog: int = socket.SOMAXCONN) -> socket.socket:
    """The socket every listener process accepts from.

    Its backlog holds connections the kernel has completed and no process has
    accepted yet; past it a sender's SYN goes unanswered and it retries after
    1 s, then 3 s. Linux caps it at net.core.somaxconn.
    """
    sock = socket.create_server((host, port), backlog=backlog, reuse_port=False)
    sock.setblocking(False)
    return sock


def server_tls_context(certificate: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """The listener's TLS, TLS 1.2 or later (PS3.15 B.1, with BCP 195's floor as DCMTK's default profile).

    With `client_ca`, every sender must present a certificate that CA issued
    (mutual authentication); which certificate an AE title must use is
    `HospitalAETitle.tls_certificate_sha256`'s.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
