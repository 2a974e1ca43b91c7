"""TLS listener test support: certificates made by the openssl command at run time, a gateway
with a `tls` listener, and Python ssl clients."""
import os
import socket
import ssl
import subprocess

from conftest import make_config


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(cwd, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".crt", cwd=cwd)


def make_cert(cwd, name, subject, ca, san=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
            "-keyout", name + ".key", "-out", name + ".csr", cwd=cwd)
    ext = name + ".ext"
    with open(os.path.join(cwd, ext), "w") as f:
        f.write("basicConstraints=CA:FALSE\n" + ("subjectAltName=%s\n" % san if san else ""))
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", name + ".crt", cwd=cwd)


def make_certs(directory):
    """ca, other-ca; server (localhost, 127.0.0.1: the default), wild (other.test, *.wild.test),
    client (signed by ca) and stranger (a client certificate signed by other-ca)."""
    for ca in ("ca", "other-ca"):
        make_ca(directory, ca)
    make_cert(directory, "server", "/CN=localhost", "ca", "DNS:localhost,IP:127.0.0.1")
    make_cert(directory, "wild", "/CN=other.test", "ca", "DNS:other.test,DNS:*.wild.test")
    make_cert(directory, "client", "/CN=app", "ca")
    make_cert(directory, "stranger", "/CN=stranger", "other-ca")
    return lambda name: os.path.join(directory, name)


def tls_config(upstream, certs, listener=None, **tls):
    """A one-listener config whose listener has `tls` (the server and wild certificates unless
    `certificates` is given) plus the listener keys in `listener`."""
    block = {"certificates": [{"cert": certs("server.crt"), "key": certs("server.key")},
                              {"cert": certs("wild.crt"), "key": certs("wild.key")}]}
    block.update(tls)
    keys = dict(listener or {})
    keys["tls"] = block
    return make_config({"app": [upstream]}, listener=keys)


def client_context(certs, cert=None, alpn=None, max_version=None):
    context = ssl.create_default_context(cafile=certs("ca.crt"))
    if cert:
        context.load_cert_chain(certs(cert + ".crt"), certs(cert + ".key"))
    if alpn:
        context.set_alpn_protocols(alpn)
    if max_version:
        context.maximum_version = max_version
    return context


def tls_connect(port, context, server_hostname="localhost", session=None, timeout=10.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except Exception:
        raw.close()
        raise


def read_response(sock, limit=64 * 1024 * 1024):
    """One HTTP/1.1 response with Content-Length from a socket: (status, headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    assert length <= limit
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(min(1 << 20, length - len(body)))
        if not chunk:
            raise ConnectionError("closed after %d of %d body bytes" % (len(body), length))
        body += chunk
    extra = bytes(body[length:])
    return status, headers, bytes(body[:length]), extra


def get(sock, path, host="localhost", extra=""):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, extra)).encode())
    status, headers, body, _ = read_response(sock)
    return status, headers, body


def client_hello(server_hostname="localhost"):
    """The bytes of a real ClientHello, made in memory."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()
