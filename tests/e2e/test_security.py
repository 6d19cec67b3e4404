"""Mutual TLS and the bearer token, against a real server process."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from client import ReasonerClient, TlsOptions

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j, pytest.mark.slow]

TOKEN = "test-token-1234"


def openssl(*arguments: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *arguments], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kgreason test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=kgreason {name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
        extensions = ["-extfile", "server.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-out", f"{name}.pem", *extensions, cwd=folder)


@pytest.fixture(scope="module")
def secure_server(server_factory, tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; it creates the test certificates")
    folder = tmp_path_factory.mktemp("certificates")
    make_certificates(folder)
    server = server_factory(
        tls_cert=folder / "server.pem", tls_key=folder / "server.key", tls_client_ca=folder / "ca.pem",
        bearer_token=TOKEN,
    )
    yield server, folder
    assert server.stop() == 0


def test_mutual_tls_with_token_verifies(secure_server):
    server, folder = secure_server
    tls = TlsOptions.from_files(folder / "ca.pem", folder / "client.pem", folder / "client.key")
    with ReasonerClient(server.address, tls=tls, token=TOKEN, timeout=60) as client:
        response = client.verify("virus", "isa", "organism")
    assert response.subject.id == "virus"


def test_missing_token_is_unauthenticated(secure_server):
    server, folder = secure_server
    tls = TlsOptions.from_files(folder / "ca.pem", folder / "client.pem", folder / "client.key")
    with ReasonerClient(server.address, tls=tls, timeout=60) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.verify("virus", "isa", "organism")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in caught.value.details()


def test_wrong_token_is_unauthenticated_on_stream(secure_server):
    server, folder = secure_server
    tls = TlsOptions.from_files(folder / "ca.pem", folder / "client.pem", folder / "client.key")
    with ReasonerClient(server.address, tls=tls, token="wrong", timeout=60) as client:
        with pytest.raises(grpc.RpcError) as caught:
            list(client.verify_stream([("virus", "isa", "organism")]))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_client_without_certificate_is_rejected(secure_server):
    server, folder = secure_server
    tls = TlsOptions.from_files(folder / "ca.pem")
    with ReasonerClient(server.address, tls=tls, token=TOKEN, timeout=10, max_attempts=1) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.verify("virus", "isa", "organism")
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
