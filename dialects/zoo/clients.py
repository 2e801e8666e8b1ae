"""Client recipes of the zoo: how to install, version and drive each real SMTP client.

A recipe is a ``Client``: a stable lower-case id (the dialect name), a kind (mta, mua,
library, tool), the packages it is installed from (Debian, PyPI, npm), the server
behaviours it can use, and ``send(run)``, which configures the unmodified software in
``run.workdir`` (or, for the MTAs, in their own /etc, since the package is purged
afterwards) and makes it deliver ``run.message`` to ``run.server_ip``, inside the client
namespace via ``run.client_run`` / ``run.client_start``.

Adding a client: write a ``send`` function, register it with ``register(Client(...))``
below, run ``python3 dialects/zoo/zoo.py --client NEW`` and add its row to
dialects/README.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoo import Run

HERE = Path(__file__).resolve().parent
HELPERS = HERE / "helpers"
CACHE = Path(os.environ.get("ZOO_CACHE", "/var/cache/babel-zoo"))
ALL = frozenset({"modern", "starttls", "old", "strict", "busy"})
NO_TLS = ALL - {"starttls"}


@dataclass
class Client:
    id: str
    kind: str  # mta | mua | library | tool
    send: Callable[[Run], None]
    version: Callable[[], str]
    apt: tuple[str, ...] = ()
    purge: tuple[str, ...] = ()  # packages to purge after capturing (MTAs conflict)
    behaviours: frozenset[str] = ALL
    literal_helo: bool = True  # can be told to greet with an address literal
    max_recipients: int = 0  # 0: no limit
    delivery_timeout: float = 30
    setup: Callable[[], None] | None = None  # pip/npm installs
    debconf: tuple[str, ...] = ()  # debconf-set-selections lines, applied before apt-get install
    daemon: bool = False  # send() may return before the conversation has started
    settle: float = 0.5  # seconds without an open connection that end the capture
    stop: Callable[[Run], None] | None = None  # stop a daemon before tcpdump stops
    notes: str = ""


CLIENTS: dict[str, Client] = {}


def register(client: Client) -> Client:
    CLIENTS[client.id] = client
    return client


# ---------------------------------------------------------------------------- helpers


def dpkg_version(package: str) -> str:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Version}", package],
        capture_output=True, text=True, check=False,
    )
    status, _, version = result.stdout.partition("|")
    return version if status.startswith("ii") else ""


def deb(package: str) -> Callable[[], str]:
    def version() -> str:
        found = dpkg_version(package)
        if not found:
            raise RuntimeError(f"Debian package {package} is not installed")
        return f"{package} {found} (Debian)"
    return version


@contextlib.contextmanager
def no_service_start() -> Iterator[None]:
    """Keep maintainer scripts from starting daemons in the host namespace."""
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\n# babel zoo: no service starts during installs\nexit 101\n")
        policy.chmod(0o755)
    try:
        yield
    finally:
        if created:
            policy.unlink(missing_ok=True)


def venv_python() -> Path:
    return CACHE / "venv" / "bin" / "python"


def pip_setup(*packages: str) -> Callable[[], None]:
    def setup() -> None:
        if not venv_python().exists():
            subprocess.run([sys.executable, "-m", "venv", str(CACHE / "venv")], check=True)
        subprocess.run([str(venv_python()), "-m", "pip", "install", "-q", *packages], check=True)
    return setup


def pip_version(package: str) -> Callable[[], str]:
    def version() -> str:
        out = subprocess.run(
            [str(venv_python()), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return f"{package} {out} (PyPI)"
    return version


def npm_setup(*packages: str) -> Callable[[], None]:
    def setup() -> None:
        (CACHE / "npm").mkdir(parents=True, exist_ok=True)
        have = all((CACHE / "npm" / "node_modules" / p / "package.json").exists() for p in packages)
        if not have:
            subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(CACHE / "npm"), *packages],
                           check=True)
    return setup


def npm_version(package: str) -> Callable[[], str]:
    def version() -> str:
        meta = json.loads((CACHE / "npm" / "node_modules" / package / "package.json").read_text())
        return f"{package} {meta['version']} (npm)"
    return version


def spec(run: Run, **extra: object) -> Path:
    """JSON parameters for the helper scripts in helpers/."""
    data = {
        "host": run.server_ip, "port": 25, "helo": run.helo, "sender": run.sender,
        "recipients": run.recipients, "subject": run.subject, "body": run.body,
        "message": run.message.decode(), "starttls": run.behaviour == "starttls",
        "behaviour": run.behaviour, **extra,
    }
    return run.write("spec.json", json.dumps(data))


def message_file(run: Run) -> Path:
    return run.write("message.eml", run.message)


def body_file(run: Run) -> Path:
    return run.write("body.txt", run.body)


# ---------------------------------------------------------------------------- libraries


def python_version() -> str:
    return f"python {sys.version.split()[0]} smtplib (stdlib)"


def smtplib_client(mode: str, starttls: bool) -> Callable[[Run], None]:
    def send(run: Run) -> None:
        run.client_run([sys.executable, str(HELPERS / "smtplib_client.py"), str(spec(run, mode=mode, use_starttls=starttls))])
    return send


for _mode in ("sendmail", "send_message"):
    for _tls in (False, True):
        register(Client(
            id="python-smtplib-" + ("starttls-" if _tls else "") + _mode.replace("_", "-"),
            kind="library", send=smtplib_client(_mode, _tls), version=python_version,
            notes=f"smtplib.SMTP.{_mode}()" + (", starttls() when offered" if _tls else ", never starttls()"),
        ))


def aiosmtplib_send(run: Run) -> None:
    run.client_run([str(venv_python()), str(HELPERS / "aiosmtplib_client.py"), str(spec(run))])


register(Client(
    id="python-aiosmtplib", kind="library", send=aiosmtplib_send,
    version=pip_version("aiosmtplib"), setup=pip_setup("aiosmtplib"),
))


def perl_net_smtp_send(run: Run) -> None:
    run.client_run(["perl", str(HELPERS / "net_smtp.pl"), str(spec(run))])


def perl_net_smtp_version() -> str:
    out = subprocess.run(["perl", "-MNet::SMTP", "-e", "print $Net::SMTP::VERSION"],
                         capture_output=True, text=True, check=True).stdout
    return f"Net::SMTP {out} (perl {dpkg_version('perl')}, Debian)"


register(Client(
    id="perl-net-smtp", kind="library", send=perl_net_smtp_send, version=perl_net_smtp_version,
    apt=("perl", "libio-socket-ssl-perl"),
))


def phpmailer_send(run: Run) -> None:
    run.client_run(["php", str(HELPERS / "phpmailer.php"), str(spec(run))])


register(Client(
    id="phpmailer", kind="library", send=phpmailer_send, version=deb("libphp-phpmailer"),
    apt=("php-cli", "libphp-phpmailer"),
))


def ruby_send(run: Run) -> None:
    run.client_run(["ruby", str(HELPERS / "net_smtp.rb"), str(spec(run))])


def ruby_version() -> str:
    out = subprocess.run(["ruby", "-rnet/smtp", "-e", "print Net::SMTP::VERSION, ' ', RUBY_VERSION"],
                         capture_output=True, text=True, check=True).stdout.split()
    return f"net-smtp {out[0]} (ruby {out[1]}, {dpkg_version('ruby' + '.'.join(out[1].split('.')[:2]))}, Debian)"


register(Client(
    id="ruby-net-smtp", kind="library", send=ruby_send, version=ruby_version, apt=("ruby",),
))


def nodemailer_send(run: Run) -> None:
    run.client_run(["node", str(HELPERS / "nodemailer.js"), str(spec(run))],
                   env={"NODE_PATH": str(CACHE / "npm" / "node_modules")})


register(Client(
    id="nodemailer", kind="library", send=nodemailer_send, version=npm_version("nodemailer"),
    setup=npm_setup("nodemailer"),
))


# ---------------------------------------------------------------------------- tools


def swaks_send(run: Run) -> None:
    argv = ["swaks", "--server", f"{run.server_ip}:25", "--helo", run.helo, "--from", run.sender,
            "--to", ",".join(run.recipients), "--data", f"@{message_file(run)}", "--timeout", "20"]
    if run.behaviour == "starttls":
        argv.append("--tls")
    run.client_run(argv)


register(Client(id="swaks", kind="tool", send=swaks_send, version=deb("swaks"),
                apt=("swaks", "libnet-ssleay-perl")))


def curl_send(run: Run) -> None:
    argv = ["curl", "-sS", "-g", "--url", f"smtp://{run.server_ip}:25/{run.helo}", "--mail-from", run.sender]
    for rcpt in run.recipients:
        argv += ["--mail-rcpt", rcpt]
    argv += ["--upload-file", str(message_file(run)), "--max-time", "30"]
    if run.behaviour == "starttls":
        argv += ["--ssl", "-k"]
    run.client_run(argv)


register(Client(id="curl", kind="tool", send=curl_send, version=deb("curl"), apt=("curl",)))


def msmtp_send(run: Run) -> None:
    tls = ["--tls=on", "--tls-starttls=on", "--tls-certcheck=off"] if run.behaviour == "starttls" else ["--tls=off"]
    run.client_run(["msmtp", "--host", run.server_ip, "--port=25", f"--domain={run.helo}", "--auth=off",
                    f"--from={run.sender}", *tls, "--", *run.recipients], stdin=run.message)


register(Client(id="msmtp", kind="mua", send=msmtp_send, version=deb("msmtp"), apt=("msmtp",)))


def sendemail_send(run: Run) -> None:
    # sendEmail has no switch to skip certificate verification: trust the run's
    # certificate instead (IO::Socket::SSL reads SSL_CERT_FILE).
    env = {"SSL_CERT_FILE": str(run.cert)} if run.cert else {}
    run.client_run(["sendEmail", "-f", run.sender, "-t", *run.recipients, "-u", run.subject,
                    "-o", f"message-file={body_file(run)}", "-s", f"{run.server_ip}:25",
                    "-o", f"fqdn={run.helo}"], env=env)  # tls=auto (the default): STARTTLS when offered


register(Client(id="sendemail", kind="tool", send=sendemail_send, version=deb("sendemail"),
                apt=("sendemail", "libio-socket-ssl-perl", "libnet-ssleay-perl")))


def git_send_email_send(run: Run) -> None:
    repo = run.path("repo")
    repo.mkdir()
    env = {"HOME": str(run.workdir), "GIT_AUTHOR_NAME": "Zoo Author", "GIT_AUTHOR_EMAIL": run.sender,
           "GIT_COMMITTER_NAME": "Zoo Author", "GIT_COMMITTER_EMAIL": run.sender}
    git = ["git", "-C", str(repo)]
    subprocess.run(git + ["init", "-q"], check=True, env=dict(os.environ, **env))
    (repo / "notes.txt").write_text(run.body)
    subprocess.run(git + ["add", "notes.txt"], check=True, env=dict(os.environ, **env))
    subprocess.run(git + ["commit", "-q", "-m", run.subject], check=True, env=dict(os.environ, **env))
    patch = subprocess.run(git + ["format-patch", "-1", "-o", str(run.path("out"))], check=True,
                           env=dict(os.environ, **env), capture_output=True, text=True).stdout.strip()
    argv = ["git", "send-email", "--smtp-server", run.server_ip, "--smtp-server-port", "25",
            "--smtp-domain", run.helo, "--from", run.sender, "--confirm", "never", "--suppress-cc", "all",
            "--no-validate", "--smtp-ssl-cert-path", ""]
    argv += [f"--to={r}" for r in run.recipients]
    if run.behaviour == "starttls":
        argv += ["--smtp-encryption", "tls"]
    run.client_run(argv + [patch], env=env, cwd=repo)


register(Client(id="git-send-email", kind="tool", send=git_send_email_send, version=deb("git-email"),
                apt=("git", "git-email", "libmailtools-perl", "libio-socket-ssl-perl", "libnet-ssleay-perl")))


# ---------------------------------------------------------------------------- MUAs


def mutt_send(binary: str, force_tls: bool = False) -> Callable[[Run], None]:
    def send(run: Run) -> None:
        # ssl_starttls stays at its default (yes): EHLO, and STARTTLS when offered.
        # ssl_force_tls (default yes in mutt 2.2) would refuse a server without
        # STARTTLS; whoever sends to port 25 turns it off.
        rc = [
            f'set smtp_url="smtp://{run.server_ip}:25/"',
            f'set from="{run.sender}"', "set use_envelope_from=yes", "set use_from=yes",
            f'set hostname="{run.hostname}"', "set record=''", "set copy=no",
        ]
        if not force_tls:
            rc.append("set ssl_force_tls=no")
        if run.cert:
            rc.append(f'set certificate_file="{run.cert}"')
        run.write("muttrc", "\n".join(rc) + "\n")
        run.client_run([binary, "-n", "-F", str(run.path("muttrc")), "-s", run.subject, "--", *run.recipients],
                       stdin=run.body.encode(), env={"HOME": str(run.workdir), "TERM": "dumb"})
    return send


register(Client(id="mutt", kind="mua", send=mutt_send("mutt"), version=deb("mutt"), apt=("mutt",),
                literal_helo=False))
register(Client(id="neomutt", kind="mua", send=mutt_send("neomutt"), version=deb("neomutt"), apt=("neomutt",),
                literal_helo=False))
# The packaged default (ssl_force_tls=yes): STARTTLS even when not offered, else give up.
register(Client(id="mutt-force-tls", kind="mua", send=mutt_send("mutt", force_tls=True), version=deb("mutt"),
                apt=("mutt",), literal_helo=False))
register(Client(id="neomutt-force-tls", kind="mua", send=mutt_send("neomutt", force_tls=True),
                version=deb("neomutt"), apt=("neomutt",), literal_helo=False))


def s_nail_send(run: Run) -> None:
    argv = ["s-nail", "-n", "-#", "-S", "v15-compat", "-S", f"mta=smtp://{run.server_ip}:25",
            "-S", f"hostname={run.hostname}", "-r", run.sender,
            "-S", "smtp-auth=none", "-S", "sendwait", "-S", "nosave", "-s", run.subject]
    if run.behaviour == "starttls":
        argv += ["-S", "smtp-use-starttls", "-S", "tls-verify=ignore"]
    run.client_run(argv + ["-.", *run.recipients], stdin=run.body.encode(), env={"HOME": str(run.workdir)})


register(Client(id="s-nail", kind="mua", send=s_nail_send, version=deb("s-nail"), apt=("s-nail",),
                literal_helo=False))


def mailutils_send(run: Run) -> None:
    run.client_run(["mail.mailutils", "-E", f'set sendmail="smtp://{run.server_ip}:25"',
                    "-r", run.sender, "-s", run.subject, *run.recipients],
                   stdin=run.body.encode(), env={"HOME": str(run.workdir)})


register(Client(id="gnu-mailutils", kind="mua", send=mailutils_send, version=deb("mailutils"),
                apt=("mailutils",), literal_helo=False))


# ---------------------------------------------------------------------------- MTAs
#
# Each runs inside the client namespace, relays everything to [server_ip] by address
# (there is no DNS), takes its host name and greeting name from its own config, and
# starts from an empty queue and retry database on every run (a message deferred by
# ``busy`` must not come back in the next capture).  The package is purged afterwards:
# Debian's MTAs conflict with each other.


def preseed(*lines: str) -> Callable[[], None]:
    def setup() -> None:
        subprocess.run(["debconf-set-selections"], input="\n".join(lines) + "\n", text=True, check=True)
    return setup


def clear_dir(*paths: str) -> None:
    for path in paths:
        p = Path(path)
        if p.is_dir():
            for child in p.iterdir():
                if child.is_dir() and not child.is_symlink():
                    subprocess.run(["rm", "-rf", str(child)], check=False)
                else:
                    child.unlink(missing_ok=True)


def mailname(run: Run) -> str:
    """The MTA's own name: the run's host name (a dotted name or a single label)."""
    return run.hostname


# --- Postfix


def postfix_send(run: Run) -> None:
    domain = run.hostname.split(".", 1)[1] if "." in run.hostname else "localdomain"
    main_cf = f"""\
# babel zoo: relay-only Postfix client (Debian defaults where they matter)
compatibility_level = 3.6
myhostname = {run.hostname}
mydomain = {domain}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
relayhost = [{run.server_ip}]
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_helo_name = {run.helo}
smtp_tls_security_level = may
smtp_dns_support_level = disabled
smtp_host_lookup = native
maillog_file = /var/log/postfix-zoo.log
biff = no
readme_directory = no
"""
    Path("/etc/postfix/main.cf").write_text(main_cf)
    if not Path("/etc/postfix/master.cf").exists():
        subprocess.run(["cp", "/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf"], check=True)
    subprocess.run(["postsuper", "-d", "ALL"], capture_output=True, check=False)
    run.client_run(["postfix", "start"], check=True)
    run.client_run(["/usr/sbin/sendmail", "-f", run.sender, "--", *run.recipients], stdin=run.message, check=True)


def postfix_stop(run: Run) -> None:
    subprocess.run(["postfix", "stop"], capture_output=True, check=False)
    subprocess.run(["postsuper", "-d", "ALL"], capture_output=True, check=False)


register(Client(
    id="postfix", kind="mta", send=postfix_send, stop=postfix_stop, version=deb("postfix"),
    apt=("postfix",), purge=("postfix",), daemon=True, settle=2.5,
    debconf=("postfix postfix/main_mailer_type select No configuration",),
))


# --- Exim 4


def exim4_send(run: Run) -> None:
    Path("/etc/exim4/update-exim4.conf.conf").write_text(f"""\
dc_eximconfig_configtype='satellite'
dc_other_hostnames=''
dc_local_interfaces='127.0.0.1'
dc_readhost='{run.hostname}'
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost='{run.server_ip}::25'
CFILEMODE='644'
dc_use_split_config='false'
dc_hide_mailname='true'
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
""")
    Path("/etc/mailname").write_text(run.hostname + "\n")
    Path("/etc/exim4/exim4.conf.localmacros").write_text(
        f"MAIN_HARDCODE_PRIMARY_HOSTNAME = {run.hostname}\n"
        f"REMOTE_SMTP_SMARTHOST_HELO_DATA = {run.helo}\n"
        f"REMOTE_SMTP_HELO_DATA = {run.helo}\n"
    )
    subprocess.run(["update-exim4.conf"], check=True)
    clear_dir("/var/spool/exim4/input", "/var/spool/exim4/db", "/var/spool/exim4/msglog")
    run.client_run(["exim4", "-odi", "-f", run.sender, "--", *run.recipients], stdin=run.message)


def exim4_stop(run: Run) -> None:
    clear_dir("/var/spool/exim4/input", "/var/spool/exim4/db", "/var/spool/exim4/msglog")


register(Client(
    id="exim4", kind="mta", send=exim4_send, stop=exim4_stop, version=deb("exim4-daemon-light"),
    apt=("exim4-daemon-light",), purge=("exim4-daemon-light", "exim4-base", "exim4-config"),
    debconf=("exim4-config exim4/dc_eximconfig_configtype select mail sent by smarthost; no local mail",
                  "exim4-config exim4/dc_smarthost string 203.0.113.25::25"),
))


# --- Sendmail


def sendmail_send(run: Run) -> None:
    switch = run.write("service.switch", "hosts files\naliases files\n")
    mc = f"""\
divert(-1)
# babel zoo: sendmail as a smarthost client
divert(0)dnl
include(`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`babel zoo')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{run.hostname}')dnl
define(`confHELO_NAME', `{run.helo}')dnl
define(`SMART_HOST', `[{run.server_ip}]')dnl
define(`confSERVICE_SWITCH_FILE', `{switch}')dnl
define(`confHOSTS_FILE', `/etc/hosts')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confTO_ICONNECT', `15s')dnl
define(`confTO_CONNECT', `15s')dnl
define(`QUEUE_DIR', `{run.workdir}/mqueue')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe,GroupReadableKeyFile')dnl
define(`ALIAS_FILE', `')dnl
define(`STATUS_FILE', `{run.workdir}/sendmail.st')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
"""
    run.write("sendmail.mc", mc)
    cf = subprocess.run(["m4", str(run.path("sendmail.mc"))], capture_output=True, text=True, check=True).stdout
    run.write("sendmail.cf", cf)
    run.path("mqueue").mkdir(mode=0o700)
    run.client_run(["/usr/sbin/sendmail", "-C", str(run.path("sendmail.cf")), "-Am", "-odi", "-oi",
                    "-f", run.sender, "--", *run.recipients], stdin=run.message)


register(Client(
    id="sendmail", kind="mta", send=sendmail_send, version=deb("sendmail-bin"),
    apt=("sendmail-bin", "sendmail-cf", "m4"),
    purge=("sendmail-bin", "sendmail-base", "sendmail-cf", "sensible-mda"),
))


# --- OpenSMTPD


def opensmtpd_send(run: Run) -> None:
    conf = run.write("smtpd.conf", f"""\
# babel zoo: OpenSMTPD relaying everything to the zoo server
action "relay" relay host smtp://{run.server_ip}:25 helo "{run.helo}"
match from local for any action "relay"
""")
    Path("/etc/mailname").write_text(run.hostname + "\n")
    clear_dir("/var/spool/smtpd/queue", "/var/spool/smtpd/incoming", "/var/spool/smtpd/temporary",
              "/var/spool/smtpd/corrupt", "/var/spool/smtpd/offline", "/var/spool/smtpd/purge")
    run.client_start(["smtpd", "-d", "-f", str(conf)])
    for _ in range(100):
        if Path("/run/smtpd.sock").exists() or Path("/var/run/smtpd.sock").exists():
            break
        time.sleep(0.1)
    run.client_run(["smtpctl", "-h"], check=False)
    run.client_run(["/usr/sbin/sendmail", "-f", run.sender, "--", *run.recipients], stdin=run.message, check=True)


def opensmtpd_stop(run: Run) -> None:
    for proc in run.procs:
        if proc.args[-3:-1] == ["-f", str(run.path("smtpd.conf"))] and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


register(Client(
    id="opensmtpd", kind="mta", send=opensmtpd_send, stop=opensmtpd_stop, version=deb("opensmtpd"),
    apt=("opensmtpd",), purge=("opensmtpd",), daemon=True, literal_helo=True,
    debconf=("opensmtpd opensmtpd/mailname string zoo.example",),
))


# --- dma (DragonFly Mail Agent)


def dma_send(run: Run) -> None:
    tls = "STARTTLS\nSECURETRANSFER\nOPPORTUNISTIC_TLS\n" if run.behaviour == "starttls" else ""
    Path("/etc/dma/dma.conf").write_text(
        f"# babel zoo\nSMARTHOST {run.server_ip}\nPORT 25\nMAILNAME {run.hostname}\n{tls}"
    )
    clear_dir("/var/spool/dma")
    run.client_run(["dma", "-f", run.sender, "--", *run.recipients], stdin=run.message, check=True)


def dma_stop(run: Run) -> None:
    clear_dir("/var/spool/dma")


register(Client(
    id="dma", kind="mta", send=dma_send, stop=dma_stop, version=deb("dma"),
    apt=("dma",), purge=("dma",), daemon=True, literal_helo=False,
    debconf=("dma dma/mailname string zoo.example", "dma dma/relayhost string 203.0.113.25"),
))


# --- nullmailer


def nullmailer_send(run: Run) -> None:
    flags = " --starttls --insecure" if run.behaviour == "starttls" else ""
    etc = Path("/etc/nullmailer")
    (etc / "remotes").write_text(f"{run.server_ip} smtp --port=25{flags}\n")
    (etc / "me").write_text(run.hostname + "\n")
    (etc / "defaultdomain").write_text((run.hostname.split(".", 1)[1] if "." in run.hostname else run.hostname) + "\n")
    (etc / "helohost").write_text(run.helo + "\n")
    (etc / "adminaddr").write_text("")
    clear_dir("/var/spool/nullmailer/queue", "/var/spool/nullmailer/tmp", "/var/spool/nullmailer/failed")
    run.client_start(["runuser", "-u", "mail", "--", "nullmailer-send"])
    time.sleep(0.5)
    run.client_run(["/usr/sbin/sendmail", "-f", run.sender, "--", *run.recipients], stdin=run.message, check=True)


def nullmailer_stop(run: Run) -> None:
    clear_dir("/var/spool/nullmailer/queue", "/var/spool/nullmailer/tmp", "/var/spool/nullmailer/failed")


register(Client(
    id="nullmailer", kind="mta", send=nullmailer_send, stop=nullmailer_stop, version=deb("nullmailer"),
    apt=("nullmailer",), purge=("nullmailer",), daemon=True,
    debconf=("nullmailer shared/mailname string zoo.example",
                  "nullmailer nullmailer/relayhost string 203.0.113.25"),
))
