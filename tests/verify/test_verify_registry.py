"""``anyarch verify`` reading straight from a real registry (no pull into the store first)."""

from __future__ import annotations

from helpers.registry import registry, repo  # noqa: F401  (fixtures)

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]


def test_verify_index_in_registry(anyarch, busybox_layout, registry, repo, verify_cli, store_dir):  # noqa: F811
    ref = f"{registry.host}/{repo}:1"
    anyarch("copy", f"oci:{busybox_layout}:latest", ref, "--progress", "quiet", check=True)
    r = verify_cli(f"docker://{ref}", "--format", "json")
    assert r.code == 0, r
    doc = r.json()
    assert doc["reference"] == ref
    assert [e["platform"] for e in doc["entries"]] == PLATFORMS
    assert all(e["verified"] and e["filesChecked"] == 1 for e in doc["entries"])
    # the image was read, not pulled: the store stays empty
    assert not [p for p in store_dir.rglob("*") if p.is_file() and "blobs" in p.parts]
    # a bare reference the store lacks is looked up in its registry
    bare = verify_cli(ref, "--profile", "cloudrun")
    assert bare.code == 0, bare


def test_verify_wrong_index_in_registry(anyarch, busybox_layout, registry, repo, verify_cli):  # noqa: F811
    # per-arch tags, then a list whose "arm64" entry is really the amd64 image
    for p, tag in (("linux/amd64", "amd64"), ("linux/arm/v7", "armv7")):
        anyarch(
            "copy",
            "--platform",
            p,
            f"oci:{busybox_layout}:latest",
            f"{registry.host}/{repo}:{tag}",
            "--progress",
            "quiet",
            check=True,
        )
    lst = f"{registry.host}/{repo}:list"
    anyarch(
        "manifest",
        "create",
        lst,
        f"{registry.host}/{repo}:amd64",
        f"{registry.host}/{repo}:armv7",
        check=True,
    )
    anyarch(
        "manifest", "annotate", "--arch", "arm64", lst, f"{registry.host}/{repo}:amd64", check=True
    )
    anyarch("manifest", "push", lst, check=True)
    r = verify_cli(f"docker://{lst}", "--format", "json")
    assert r.code == 1, r
    rules = sorted({(f["rule"], f["platform"]) for f in r.json()["findings"]})
    assert ("AV002", "linux/arm64") in rules and ("AV001", "linux/arm64") in rules
    (elf,) = [f for f in r.json()["findings"] if f["rule"] == "AV002"]
    assert elf["path"] == "/bin/busybox" and "x86-64 64-bit LSB" in elf["message"]
    assert [e["platform"] for e in r.json()["entries"]] == ["linux/arm64", "linux/arm/v7"]


def test_name_in_neither_store_nor_registry(registry, repo, verify_cli):  # noqa: F811
    r = verify_cli(f"{registry.host}/{repo}:missing")
    assert r.code == 3, r
    assert "is not in the store, and" in r.err and registry.host in r.err
    assert "Hint: 'anyarch images' lists the store" in r.err
