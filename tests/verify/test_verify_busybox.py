"""``anyarch verify`` on the real 3-platform busybox index, and on indexes broken by hand.

Every broken index here is one a user can really end up with (``manifest
create`` with the wrong per-arch tag, a config from another build, a list
assembled with two spellings of one platform), and each test checks that the
finding names what the user must fix: the rule, the entry, the file.
"""

from __future__ import annotations

import json
from typing import Any

from anyarch.oci import Descriptor, mediatype

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]


def _findings(r: Any, rule: str) -> list[dict[str, Any]]:
    return [f for f in r.json()["findings"] if f["rule"] == rule]


def test_correct_index_passes(bb, verify_cli):
    r = verify_cli("bb")
    assert r.code == 0, r
    assert "OK: 0 errors, 0 warnings, 0 info" in r.out
    for p in PLATFORMS:
        line = next(x for x in r.out.splitlines() if x.strip().startswith(p + " "))
        assert "1 ELF file checked" in line and line.rstrip().endswith("ok"), line
    j = verify_cli("bb", "--format", "json").json()
    assert [e["platform"] for e in j["entries"]] == PLATFORMS
    assert all(e["verified"] and e["filesChecked"] == 1 for e in j["entries"])
    assert j["findings"] == [] and j["ok"] is True


def test_arm64_entry_pointing_at_amd64_image_fails(bb, kit, verify_cli):
    amd64 = bb["linux/amd64"]
    wrong = kit.relabel(amd64, "linux/arm64")
    kit.tag("bad", kit.index([amd64, wrong, bb["linux/arm/v7"]]))
    r = verify_cli("bad")
    assert r.code == 1, r
    assert "/bin/busybox is x86-64 64-bit LSB ELF" in r.out
    assert "FAIL: 2 errors" in r.out
    rows = {x.split()[0]: x for x in r.out.splitlines()[1:4]}
    # both rows show the same manifest; only the mislabelled one has the errors
    assert rows["linux/amd64"].endswith(" ok") and rows["linux/arm64"].endswith(" 2 errors")
    j = verify_cli("bad", "--format", "json")
    assert j.code == 1
    elf = _findings(j, "AV002")
    assert len(elf) == 1
    assert elf[0]["platform"] == "linux/arm64"
    assert elf[0]["digest"] == str(amd64.digest)
    assert elf[0]["path"] == "/bin/busybox"
    assert "linux/amd64 binary" in elf[0]["message"] and elf[0]["severity"] == "error"
    # the config says amd64 too, so the descriptor/config rule fires as well
    assert [f["platform"] for f in _findings(j, "AV001")] == ["linux/arm64"]
    # the two correct entries stay clean
    assert {f["platform"] for f in j.json()["findings"]} == {"linux/arm64"}


def test_config_platform_mismatch_is_its_own_rule(bb, kit, verify_cli):
    arm64 = bb["linux/arm64"]
    manifest = kit.read_json(arm64.digest)
    config = kit.read_json(manifest["config"]["digest"])
    config["architecture"] = "amd64"  # a config from the amd64 build, over arm64 layers
    cfg = kit.put_json(config, mediatype.OCI_CONFIG)
    manifest["config"] = cfg.to_json()
    m = kit.put_json(manifest, mediatype.OCI_MANIFEST, platform=arm64.platform)
    kit.tag("cfg", kit.index([bb["linux/amd64"], m, bb["linux/arm/v7"]]))
    r = verify_cli("cfg", "--format", "json")
    assert r.code == 1, r
    assert r.rules() == ["AV001"]
    f = r.json()["findings"][0]
    assert f["platform"] == "linux/arm64" and f["digest"] == str(m.digest)
    assert "listed as linux/arm64 but its image config says linux/amd64" in f["message"]


def test_ambiguous_platform_spellings(bb, kit, verify_cli):
    arm64 = bb["linux/arm64"]
    kit.tag("amb", kit.index([bb["linux/amd64"], arm64, kit.relabel(arm64, "linux/arm64/v8")]))
    r = verify_cli("amb", "--format", "json")
    assert r.code == 1, r
    assert r.rules() == ["AV011"]
    assert "linux/arm64 and linux/arm64/v8" in r.json()["findings"][0]["message"]


def test_duplicate_platform(bb, kit, verify_cli):
    kit.tag("dup", kit.index([bb["linux/amd64"], bb["linux/arm64"], bb["linux/arm64"]]))
    r = verify_cli("dup")
    assert r.code == 1, r
    assert "AV010" in r.out and "lists linux/arm64 2 times" in r.out


def test_attestation_entry_is_info_only(bb, kit, verify_cli):
    amd64 = bb["linux/amd64"]
    statement = kit.put(
        b'{"_type":"https://in-toto.io/Statement/v0.1"}', "application/vnd.in-toto+json"
    )
    cfg = kit.put_json(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
        },
        mediatype.OCI_CONFIG,
    )
    att = kit.put_json(
        {
            "schemaVersion": 2,
            "mediaType": mediatype.OCI_MANIFEST,
            "config": cfg.to_json(),
            "layers": [statement.to_json()],
        },
        mediatype.OCI_MANIFEST,
    )
    att_entry = Descriptor(
        att.media_type, att.digest, att.size,
        platform=kit.relabel(att, "unknown/unknown").platform,
        annotations={"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": str(amd64.digest)},
    )  # fmt: skip
    kit.tag("att", kit.index([amd64, bb["linux/arm64"], att_entry]))
    r = verify_cli("att", "--format", "json")
    assert r.code == 0, r
    (f,) = r.json()["findings"]
    assert (f["rule"], f["severity"], f["platform"]) == ("AV012", "info", "unknown/unknown")
    assert [e["platform"] for e in r.json()["entries"]] == ["linux/amd64", "linux/arm64"]
    # --strict fails on warnings, never on info
    assert verify_cli("att", "--strict").code == 0


def _docker_copy(kit: Any, entries: list[Descriptor]) -> list[Descriptor]:
    """The same images with Docker schema 2 media types (layers are gzip either way)."""
    out = []
    for d in entries:
        m = kit.read_json(d.digest)
        m["mediaType"] = mediatype.DOCKER_MANIFEST
        m["config"]["mediaType"] = mediatype.DOCKER_CONFIG
        for layer in m["layers"]:
            layer["mediaType"] = mediatype.DOCKER_LAYER
        out.append(kit.put_json(m, mediatype.DOCKER_MANIFEST, platform=d.platform))
    return out


def test_docker_v2_profile(bb, kit, verify_cli):
    r = verify_cli("bb", "--profile", "docker-v2", "--format", "json")
    assert r.code == 1, r
    assert set(r.rules()) == {"AV021"}
    assert any("OCI image index" in f["message"] for f in r.json()["findings"])
    assert len(r.rules()) == 4  # the index and its three manifests
    docker = _docker_copy(kit, [bb[p] for p in PLATFORMS])
    kit.tag("dock", kit.index(docker, docker=True))
    ok = verify_cli("dock", "--profile", "docker-v2")
    assert ok.code == 0, ok
    # --platform narrows the content checked; the list itself is always judged
    half = kit.index([docker[0], bb["linux/arm64"]], docker=True)
    kit.tag("half", half)
    assert verify_cli("half", "--profile", "docker-v2", "--platform", "linux/amd64").code == 0
    r = verify_cli(
        "half", "--profile", "docker-v2", "--platform", "linux/arm64", "--format", "json"
    )
    assert r.code == 1 and [
        f["platform"] for f in r.json()["findings"] if f["rule"] == "AV021"
    ] == ["linux/arm64"]


def test_mixed_media_types_warn(bb, kit, verify_cli):
    docker = _docker_copy(kit, [bb["linux/arm64"]])
    kit.tag("mixed", kit.index([bb["linux/amd64"], *docker], docker=True))
    r = verify_cli("mixed", "--format", "json")
    assert r.code == 0, r
    (f,) = r.json()["findings"]
    assert (f["rule"], f["severity"]) == ("AV020", "warning")
    assert "Docker manifest list" in f["message"] and bb["linux/amd64"].digest.short in f["message"]
    assert verify_cli("mixed", "--strict").code == 1


def test_lambda_profile(bb, kit, verify_cli):
    r = verify_cli("bb", "--profile", "lambda", "--format", "json")
    assert r.code == 1, r
    assert r.rules() == ["AV022"]
    kit.tag("fn-arm64", bb["linux/arm64"])
    assert verify_cli("fn-arm64", "--profile", "lambda").code == 0
    kit.tag("fn-armv7", bb["linux/arm/v7"])
    bad = verify_cli("fn-armv7", "--profile", "lambda", "--format", "json")
    assert bad.code == 1 and bad.rules() == ["AV023"], bad


def test_cloudrun_profile(bb, kit, verify_cli):
    assert verify_cli("bb", "--profile", "cloudrun").code == 0
    kit.tag("no-amd64", kit.index([bb["linux/arm64"], bb["linux/arm/v7"]]))
    r = verify_cli("no-amd64", "--profile", "cloudrun", "--format", "json")
    assert r.code == 1 and r.rules() == ["AV023"], r
    assert "linux/arm/v7, linux/arm64" in r.json()["findings"][0]["message"]


def test_json_output_shape(bb, kit, verify_cli):
    kit.tag("bad", kit.index([bb["linux/amd64"], kit.relabel(bb["linux/amd64"], "linux/arm64")]))
    r = verify_cli("bad", "--format", "json")
    doc = json.loads(r.out)
    assert set(doc) == {
        "reference",
        "digest",
        "mediaType",
        "profile",
        "entries",
        "findings",
        "summary",
        "ok",
    }
    assert doc["reference"] == "docker.io/library/bad:latest"
    assert doc["mediaType"] == mediatype.OCI_INDEX and doc["profile"] == "default"
    for e in doc["entries"]:
        assert set(e) == {"platform", "digest", "mediaType", "verified", "layers", "filesChecked"}
    for f in doc["findings"]:
        assert set(f) == {"rule", "severity", "platform", "digest", "path", "message", "hint"}
        assert f["hint"]
    assert doc["summary"] == {"errors": 2, "warnings": 0, "info": 0}
    assert doc["ok"] is False
    assert [f["severity"] for f in doc["findings"]] == ["error", "error"]


def test_platform_filter(bb, kit, verify_cli):
    kit.tag("bad", kit.index([bb["linux/amd64"], kit.relabel(bb["linux/amd64"], "linux/arm64")]))
    only = verify_cli("bad", "--platform", "linux/amd64", "--format", "json")
    assert only.code == 0, only
    assert [e["platform"] for e in only.json()["entries"]] == ["linux/amd64"]
    missing = verify_cli("bb", "--platform", "linux/s390x")
    assert missing.code == 3
    assert "no linux/s390x image" in missing.err and "linux/arm64" in missing.err


def test_armv7_binary_labelled_armv6(bb, kit, verify_cli):
    v7 = bb["linux/arm/v7"]
    m = kit.read_json(v7.digest)
    config = kit.read_json(m["config"]["digest"])
    config["variant"] = "v6"
    m["config"] = kit.put_json(config, mediatype.OCI_CONFIG).to_json()
    v6 = kit.put_json(m, mediatype.OCI_MANIFEST, platform=kit.relabel(v7, "linux/arm/v6").platform)
    kit.tag("v6", kit.index([bb["linux/amd64"], v6]))
    r = verify_cli("v6", "--format", "json")
    assert r.code == 1, r
    assert r.rules() == ["AV005"]
    f = r.json()["findings"][0]
    assert (
        f["path"] == "/bin/busybox" and "ARMv7" in f["message"] and f["platform"] == "linux/arm/v6"
    )


def test_entry_missing_from_store_is_reported_not_checked(bb, kit, verify_cli):
    arm64 = bb["linux/arm64"]
    layer = kit.read_json(arm64.digest)["layers"][0]["digest"]
    (kit.store.root / "blobs" / "sha256" / layer.split(":")[1]).unlink()
    r = verify_cli("bb", "--format", "json")
    assert r.code == 0, r
    (f,) = r.json()["findings"]
    assert (f["rule"], f["platform"]) == ("AV014", "linux/arm64")
    by = {e["platform"]: e["verified"] for e in r.json()["entries"]}
    assert by == {"linux/amd64": True, "linux/arm64": False, "linux/arm/v7": True}
    assert verify_cli("bb", "--strict").code == 1


def test_oci_layout_directly(busybox_layout, verify_cli):
    r = verify_cli(f"oci:{busybox_layout}:latest", "--format", "json")
    assert r.code == 0, r
    assert [e["platform"] for e in r.json()["entries"]] == PLATFORMS
    assert all(e["filesChecked"] == 1 for e in r.json()["entries"])
