"""The real-Asterisk sandbox for integration tests.

Debian's ``asterisk`` package lives in a Debian sid tree provisioned once by
scripts/provision-asterisk.sh and cached outside the repository
(CALLSHIELD_ASTERISK_ROOT, default /var/cache/callshield/asterisk-sid). Each test
session writes a private configuration into the tree (under /srv/callshield-test/),
starts Asterisk chrooted in a private mount namespace with /proc and /dev bound in
(the binds vanish with the process), and stops it at the end.

Under CI=true a sandbox that cannot be provisioned or started fails the tests; on a
developer machine without root it skips them with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = "/var/cache/callshield/asterisk-sid"
MODULE_DIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
AMI_USER, AMI_SECRET = "callshield-test", "test-only-secret"
# The user callshield itself (monitor, drills) logs in as, with the read/write lines of the
# shipped asterisk-conf/manager.sample.conf: the tests prove that least privilege is enough.
CALLSHIELD_AMI_USER = "callshield"


class SandboxUnavailable(RuntimeError):
    pass


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_privileges() -> str:
    """The read and write lines of asterisk-conf/manager.sample.conf."""
    lines = (REPO / "asterisk-conf" / "manager.sample.conf").read_text().splitlines()
    return "\n".join(line for line in lines if line.replace(" ", "").startswith(("read=", "write=")))


def root_dir() -> Path:
    return Path(os.environ.get("CALLSHIELD_ASTERISK_ROOT", DEFAULT_ROOT))


def provision() -> Path:
    root = root_dir()
    if (root / ".callshield-ready").exists():
        return root
    if os.geteuid() != 0:
        raise SandboxUnavailable(f"the Asterisk sandbox at {root} is not provisioned and provisioning needs root: run sudo scripts/provision-asterisk.sh")
    result = subprocess.run([str(REPO / "scripts" / "provision-asterisk.sh"), str(root)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SandboxUnavailable(f"provisioning the Asterisk sandbox failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return root


def _mounted_under(path: Path) -> bool:
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as fh:
        return any(line.split()[1].startswith(prefix) or line.split()[1] == str(path) for line in fh)


@dataclass
class Ports:
    sip: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    ami: int = field(default_factory=free_port)
    agi: int = field(default_factory=free_port)
    agents: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    fraudteam: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    overflow: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    drsite: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    staffphone: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    # The AMI monitor's tests: a primary site, its secondary, and a qualified contact.
    sitea: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    siteb: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    qualified: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))


class Asterisk:
    """A running Asterisk with the project's dialplan include and test endpoints."""

    def __init__(self, root: Path, ports: Ports):
        self.root = root
        self.ports = ports
        self.name = f"run-{uuid.uuid4().hex[:8]}"
        self.inside = Path("/srv/callshield-test") / self.name  # path as Asterisk sees it
        self.outside = root / self.inside.relative_to("/")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.outside / "log" / "messages.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def write_config(self) -> None:
        etc = self.outside / "etc"
        for sub in ("etc", "run", "log", "spool", "lib", "db"):
            (self.outside / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "asterisk-conf" / "extensions_callshield.conf", etc / "extensions_callshield.conf")
        files = {
            "asterisk.conf": f"""[directories]
astetcdir => {self.inside}/etc
astmoddir => {MODULE_DIR}
astvarlibdir => /var/lib/asterisk
astdbdir => {self.inside}/db
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {self.inside}/spool
astrundir => {self.inside}/run
astlogdir => {self.inside}/log
astsbindir => /usr/sbin
[options]
verbose = 3
debug = 0
nofork = yes
highpriority = no
""",
            "modules.conf": """[modules]
autoload = yes
noload = chan_iax2.so
noload = chan_dahdi.so
noload = chan_unistim.so
noload = chan_mgcp.so
noload = chan_skinny.so
noload = chan_ooh323.so
noload = chan_motif.so
noload = res_xmpp.so
noload = res_pjsip_phoneprov_provider.so
noload = res_phoneprov.so
noload = cdr_radius.so
noload = cel_radius.so
noload = res_hep.so
noload = res_hep_pjsip.so
noload = res_hep_rtcp.so
noload = chan_console.so
noload = chan_alsa.so
noload = chan_oss.so
noload = res_snmp.so
noload = res_corosync.so
noload = res_http_websocket.so
noload = chan_websocket.so
noload = res_ari.so
""",
            "logger.conf": """[general]
dateformat = %F %T.%3q
[logfiles]
messages.log => notice,warning,error,verbose
""",
            "manager.conf": f"""[general]
enabled = yes
bindaddr = 127.0.0.1
port = {self.ports.ami}
[{AMI_USER}]
secret = {AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
[{CALLSHIELD_AMI_USER}]
secret = {AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
{sample_privileges()}
""",
            "pjsip.conf": self._pjsip(),
            "extensions.conf": self._extensions(),
            "rtp.conf": "[general]\nrtpstart = 20000\nrtpend = 30000\n",
        }
        for name, text in files.items():
            (etc / name).write_text(text)

    def _pjsip(self) -> str:
        p = self.ports
        dests = ""
        for name, port in (("agents", p.agents), ("fraudteam", p.fraudteam), ("overflow", p.overflow), ("drsite", p.drsite),
                           ("staffphone", p.staffphone), ("sitea", p.sitea), ("siteb", p.siteb), ("qualified", p.qualified)):
            # The qualified destination is pinged every second (OPTIONS): its contact goes
            # Unreachable within a second or two of its phone falling silent.
            qualify = "qualify_frequency = 1\nqualify_timeout = 0.5\n" if name == "qualified" else ""
            dests += f"""
[{name}]
type = aor
contact = sip:{name}@127.0.0.1:{port}
{qualify}
[{name}]
type = endpoint
aors = {name}
context = internal
disallow = all
allow = ulaw,alaw
transport = transport-udp
direct_media = no
send_pai = yes
"""
        return f"""[global]
type = global
endpoint_identifier_order = ip,username

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{p.sip}

[carrier]
type = endpoint
context = from-carrier
disallow = all
allow = ulaw,alaw
transport = transport-udp
direct_media = no
rtp_symmetric = yes
trust_id_inbound = yes

[carrier]
type = identify
endpoint = carrier
match = 127.0.0.1
{dests}"""

    def _extensions(self) -> str:
        return f"""[general]
static = yes
writeprotect = yes

[globals]
CALLSHIELD_AGI = agi://127.0.0.1:{self.ports.agi}
CALLSHIELD_DIAL_TIMEOUT = 5

#include extensions_callshield.conf

; The admin's inbound context: the one callshield line, then the normal route.
[from-carrier]
exten => _X.,1,Gosub(callshield-screen,s,1(${{EXTEN}}))
 same => n,Dial(PJSIP/agents,5,b(callshield-screen^headers^1(${{CHANNEL}})))
 same => n,Hangup()
exten => _+X.,1,Gosub(callshield-screen,s,1(${{EXTEN}}))
 same => n,Dial(PJSIP/agents,5,b(callshield-screen^headers^1(${{CHANNEL}})))
 same => n,Hangup()

; Staff access codes (*71<slot>, *70<slot>, *72, *73) from a telephone on the carrier.
include => callshield-access

; Numbers under +44999 bypass callshield: the baseline of bench/post_dial_delay.py.
exten => _+44999X.,1,Dial(PJSIP/agents,5)
 same => n,Hangup()

[internal]
exten => _X.,1,Hangup()

; Personal overrides ring the staff member's phone (routing.access.override_dial default).
[callshield-outbound]
exten => _+X.,1,Dial(PJSIP/staffphone/sip:${{EXTEN}}@127.0.0.1:{self.ports.staffphone},5)
 same => n,Hangup()
"""

    def start(self, timeout: float = 60.0) -> None:
        self.write_config()
        script = 'mount --bind /proc "$0/proc" && mount --bind /dev "$0/dev" && exec chroot "$0" /usr/sbin/asterisk -C "$1/etc/asterisk.conf" -f -n'
        out = open(self.outside / "log" / "console.log", "wb")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(self.root), str(self.inside)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SandboxUnavailable(f"Asterisk exited with {self.proc.returncode} at start:\n{self.console_tail()}")
            if "Asterisk Ready" in self.console_tail(20000) or "fully booted" in self.log_text():
                return
            try:
                with socket.create_connection(("127.0.0.1", self.ports.ami), timeout=0.2):
                    pass
                if self._fully_booted():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SandboxUnavailable(f"Asterisk did not boot within {timeout}s:\n{self.console_tail()}")

    def _fully_booted(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.ports.ami), timeout=2) as s:
            s.settimeout(5)
            s.sendall(f"Action: Login\r\nUsername: {AMI_USER}\r\nSecret: {AMI_SECRET}\r\nEvents: off\r\n\r\n"
                      "Action: Command\r\nCommand: core waitfullybooted\r\nActionID: boot\r\n\r\n".encode())
            data = b""
            while b"ActionID: boot" not in data or not data.endswith(b"\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
            return b"fully booted" in data

    def console_tail(self, n: int = 3000) -> str:
        try:
            return (self.outside / "log" / "console.log").read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # The binds live in the dead namespace; still, never delete under a live mount.
        if not _mounted_under(self.root / "proc") and not _mounted_under(self.outside) and self.outside.is_dir():
            keep = os.environ.get("CALLSHIELD_KEEP_SANDBOX_LOGS")
            if keep:
                shutil.copytree(self.outside / "log", Path(keep) / self.name, dirs_exist_ok=True)
            shutil.rmtree(self.outside, ignore_errors=True)
