"""`grpc://host:port` names Optuna's gRPC storage proxy: a malformed address, a proxy that does
not answer and a storage the proxy cannot serve are each refused in one line saying what to
do. (A real sweep through a proxy: tests/postgres/test_grpc_proxy.py.)"""

from __future__ import annotations

import socket

import pytest

from diffexp.errors import user_error_line
from diffexp.tuning import grpc_proxy, storage
from diffexp.tuning.storage import StorageError, StudyError, grpc_address, storage_kind
from tests.postgres_server import free_port


def test_a_grpc_url_is_its_own_storage_kind():
    assert storage_kind("grpc://node7:13000") == "grpc"
    assert grpc_address("grpc://node7:13000") == ("node7", 13000)
    assert grpc_address("grpc://[::1]:13000") == ("[::1]", 13000)


@pytest.mark.parametrize(
    "url",
    [
        "grpc://node7",  # no port
        "grpc://node7:port",
        "grpc://node7:70000",
        "grpc://:13000",
        "grpc://me:secret@node7:13000",  # the proxy holds the credentials, not the URL
        "grpc://node7:13000/studies",
    ],
)
def test_a_malformed_proxy_address_is_one_line_naming_the_form(url):
    with pytest.raises(StorageError) as caught:
        storage.create_storage(url)
    line = user_error_line(caught.value)
    assert line is not None and "\n" not in line
    assert url in line and "grpc://<host>:<port>" in line


def test_a_proxy_that_does_not_answer_says_how_to_start_one(monkeypatch):
    monkeypatch.setattr(storage, "GRPC_CONNECT_TIMEOUT_SECONDS", 0.5)
    url = f"grpc://127.0.0.1:{free_port()}"
    with pytest.raises(StorageError, match="no gRPC storage proxy answers") as caught:
        storage.create_storage(url)
    assert "python -m diffexp.tuning.grpc_proxy" in str(caught.value)
    with pytest.raises(StudyError, match="no gRPC storage proxy answers"):
        storage.open_existing_storage(url)  # analyze --storage grpc://...


@pytest.mark.parametrize("behind", ["/shared/study.log", "grpc://node7:13000"])
def test_the_proxy_refuses_a_storage_it_cannot_serve(behind, capsys):
    with pytest.raises(SystemExit) as exited:
        grpc_proxy.main(["--storage", behind, "--port", str(free_port())])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--storage" in err and "not a journal file" in err


def test_the_proxy_on_a_port_in_use_says_so_in_one_line(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            grpc_proxy.main(["--storage", f"sqlite:///{tmp_path / 's.db'}", "--port", str(port)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("diffexp: error: --host 127.0.0.1 --port") and "free port" in err
