"""What ``anyarch copy`` between two repositories of one registry loads.

Such a copy is a few dozen small requests; most of its CPU time is spent
importing modules (the promise is to beat ``skopeo copy --all``), so modules
it has no use for must stay unloaded.  A real copy runs in a fresh
interpreter and reports ``sys.modules`` at its end: an import added at the
top of a module on the path (or a store opened for nothing) fails here.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from anyarch.registry import RegistryClient
from helpers.registry import RegistryServer, TinyImage, index_of, tiny_image

MakeClient = Callable[..., RegistryClient]

#: module -> why a copy between registries must not load it
UNWANTED = {
    "logging": "registry debug logs go through anyarch._util.debuglog; nobody configured logging",
    "concurrent.futures": "the copy runs on anyarch._util.tasks (and this imports logging)",
    "anyarch.oci.config": "image configs are copied as blobs, never parsed",
    "anyarch.oci.validate": "only documents anyarch builds are validated",
    "anyarch.store": "neither end is the store or a layout",
    "anyarch.registry.challenge": "this registry asks for no credentials (no 401)",
    "shutil": "only docker-credential-* helper lookups need it",
    "random": "only a retried request's jitter needs it",
}

_COPY = """
import json, sys
from anyarch.cli.main import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def _push_index(client: RegistryClient, repo: str) -> str:
    images: list[TinyImage] = [
        tiny_image("amd64"),
        tiny_image("arm64"),
        tiny_image("arm", variant="v7"),
    ]
    for img in images:
        for digest, data in img.blobs.items():
            client.put_blob(repo, digest, len(data), data)
        client.put_manifest(repo, img.digest, img.manifest, img.media_type)
    raw, media_type = index_of(images)
    return str(client.put_manifest(repo, "v1", raw, media_type))


def test_copy_between_repositories_loads_no_store_config_validator_or_logging(
    registry: RegistryServer, make_client: MakeClient, repo: str, tmp_path: Path
) -> None:
    client = make_client(registry.host)
    digest = _push_index(client, repo)
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if k != "ANYARCH_DEBUG"}
    env["ANYARCH_STORE"] = str(store)
    src, dst = f"{registry.host}/{repo}:v1", f"{registry.host}/{repo}-copy:v1"
    p = subprocess.run(
        [sys.executable, "-c", _COPY, "copy", "--progress", "quiet", src, dst],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout.splitlines()[-1])
    assert report["rc"] == 0, p.stderr
    assert f"Digest: {digest}" in p.stdout
    assert str(client.get_manifest(f"{repo}-copy", "v1").digest) == digest
    assert not store.exists(), "a copy between registries opened (and created) the store"
    loaded = set(report["modules"])
    assert any(m.startswith("anyarch.registry") for m in loaded)  # the report is the copy's
    wrong = {
        m: why
        for m, why in UNWANTED.items()
        if m in loaded or any(x.startswith(m + ".") for x in loaded)
    }
    assert not wrong, wrong


def test_registry_debug_records_reach_logging_once_it_is_configured(
    registry: RegistryServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="anyarch.registry")
    make_client(registry.host).ping()
    assert any(
        r.name == "anyarch.registry" and r.levelno == logging.DEBUG and "/v2/" in r.getMessage()
        for r in caplog.records
    ), caplog.text
