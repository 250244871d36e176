"""docker's config.json: read what docker/podman wrote, write what they read."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

import pytest

from anyarch.errors import InvalidInputError
from anyarch.registry import Credential, DockerConfig
from anyarch.registry.auth_config import CredentialHelperError

HELPER = """#!{python}
import json, os, sys
store = os.environ["FAKE_HELPER_STORE"]
data = json.load(open(store)) if os.path.exists(store) else {{}}
action = sys.argv[1]
if action == "get":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": server, **data[server]}}))
elif action == "store":
    doc = json.load(sys.stdin)
    data[doc["ServerURL"]] = {{"Username": doc["Username"], "Secret": doc["Secret"]}}
    json.dump(data, open(store, "w"))
elif action == "erase":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[server]
    json.dump(data, open(store, "w"))
"""


@pytest.fixture
def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker-credential-fake`` on PATH storing into a JSON file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "docker-credential-fake"
    exe.write_text(HELPER.format(python=sys.executable))
    exe.chmod(0o755)
    store = tmp_path / "helper-store.json"
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_HELPER_STORE", str(store))
    return store


def test_reads_base64_auth_for_any_key_spelling(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    auth = base64.b64encode(b"bob:pa:ss").decode()
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://registry.example.com:5000/v2/": {"auth": auth},
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
                }
            }
        )
    )
    cfg = DockerConfig(path)
    assert cfg.lookup("registry.example.com:5000") == Credential("bob", "pa:ss")
    assert cfg.lookup("docker.io") == Credential("hub", "pw")
    assert cfg.lookup("registry-1.docker.io") == Credential("hub", "pw")
    assert cfg.lookup("other.example.com") is None


def test_identity_token_entries(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"r.example": {"identitytoken": "refresh-xyz"}}}))
    assert DockerConfig(path).lookup("r.example") == Credential(identity_token="refresh-xyz")


def test_missing_file_means_no_credentials(tmp_path: Path) -> None:
    assert DockerConfig(tmp_path / "nope.json").lookup("r.example") is None


def test_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInputError) as info:
        DockerConfig(path).lookup("r.example")
    assert str(path) in str(info.value) and info.value.hint


def test_login_writes_0600_atomically_and_keeps_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"psFormat": "table", "auths": {"keep.example": {"auth": "a2VlcDpt"}}})
    )
    cfg = DockerConfig(path)
    cfg.login("r.example:5000", Credential("alice", "s3cret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "table"
    assert "keep.example" in doc["auths"]
    assert base64.b64decode(doc["auths"]["r.example:5000"]["auth"]) == b"alice:s3cret"
    assert cfg.lookup("r.example:5000") == Credential("alice", "s3cret")
    assert not list(path.parent.glob(".tmp-*"))
    assert cfg.logout("r.example:5000") is True
    assert cfg.lookup("r.example:5000") is None
    assert cfg.logout("r.example:5000") is False
    assert "keep.example" in json.loads(path.read_text())["auths"]


def test_docker_hub_login_uses_dockers_key(tmp_path: Path) -> None:
    cfg = DockerConfig(tmp_path / "config.json")
    cfg.login("docker.io", Credential("hubuser", "pw"))
    assert list(json.loads(cfg.path.read_text())["auths"]) == ["https://index.docker.io/v1/"]


def test_creds_store_helper_round_trip(tmp_path: Path, fake_helper: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "fake"}))
    cfg = DockerConfig(path)
    cfg.login("r.example", Credential("carol", "helper-secret"))
    # The secret went to the helper, not into config.json.
    assert "helper-secret" not in path.read_text()
    assert json.loads(path.read_text())["auths"] == {"r.example": {}}
    assert json.loads(fake_helper.read_text())["r.example"]["Secret"] == "helper-secret"
    assert cfg.lookup("r.example") == Credential("carol", "helper-secret")
    assert cfg.logout("r.example") is True
    assert cfg.lookup("r.example") is None


def test_cred_helpers_per_registry_and_token_username(tmp_path: Path, fake_helper: Path) -> None:
    fake_helper.write_text(json.dumps({"r.example": {"Username": "<token>", "Secret": "idtok"}}))
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"r.example": "fake"}, "auths": {}}))
    cfg = DockerConfig(path)
    assert cfg.lookup("r.example") == Credential(identity_token="idtok")
    assert cfg.lookup("other.example") is None


def test_missing_helper_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "nonexistent"}))
    with pytest.raises(CredentialHelperError) as info:
        DockerConfig(path).lookup("r.example")
    assert "docker-credential-nonexistent" in str(info.value)
    assert info.value.hint


def test_default_path_honours_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    assert DockerConfig().path == tmp_path / "dc" / "config.json"
