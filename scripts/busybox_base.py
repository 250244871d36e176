"""Make a multi-arch busybox base image as an OCI image layout, from Debian packages.

The demo and the tests need a multi-platform base image without network
access beyond Debian's archive: each platform's layer holds that platform's
static busybox, the applet symlinks, ``/etc/passwd``, ``/etc/group``, ``/tmp``
and ``/root``.  Deterministic: the same .deb files always give the same index
digest.

    python scripts/busybox_base.py DEST_DIR [--platforms linux/amd64,linux/arm64,linux/arm/v7]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from anyarch._util.canonjson import dumps
from anyarch.archive.layer import Entry, write_layer

DEB_ARCH = {"amd64": "amd64", "arm64": "arm64", "arm/v7": "armhf", "386": "i386"}
CREATED = "2024-01-01T00:00:00Z"


def _busybox_binary(deb_dir: Path, deb_arch: str) -> bytes:
    debs = sorted(deb_dir.glob(f"busybox-static_*_{deb_arch}.deb"))
    if not debs:
        raise SystemExit(f"no busybox-static .deb for {deb_arch} in {deb_dir}; run scripts/fetch-busybox.sh")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True)
        return (Path(tmp) / "bin" / "busybox").read_bytes()


def _applets(host_busybox: bytes) -> list[str]:
    """Applet paths, from running the host's busybox ``--list-full``."""
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(host_busybox)
        path = f.name
    Path(path).chmod(0o755)
    try:
        out = subprocess.run(["busybox", "--list-full"], executable=path, check=True, capture_output=True, text=True).stdout
    finally:
        Path(path).unlink()
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def _put(blobs: Path, data: bytes) -> str:
    hexd = hashlib.sha256(data).hexdigest()
    (blobs / hexd).write_bytes(data)
    return f"sha256:{hexd}"


def make_layout(dest: Path, platforms: list[str], deb_dir: Path, tag: str = "latest") -> str:
    """Write the layout; returns the index digest."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    host = _busybox_binary(deb_dir, "amd64")
    applets = [a for a in _applets(host) if a != "bin/busybox"]
    manifests = []
    for spec in platforms:
        os_, _, arch = spec.partition("/")
        variant = ""
        if "/" in arch:
            arch, variant = arch.split("/", 1)
        key = arch + (f"/{variant}" if variant else "")
        binary = host if key == "amd64" else _busybox_binary(deb_dir, DEB_ARCH[key])
        entries = [
            Entry("bin", "dir", 0o755),
            Entry("bin/busybox", "file", 0o755, data=binary),
            Entry("etc", "dir", 0o755),
            Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
            Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
            Entry("root", "dir", 0o700),
            Entry("tmp", "dir", 0o1777),
            Entry("usr", "dir", 0o755),
            Entry("usr/bin", "dir", 0o755),
            Entry("usr/sbin", "dir", 0o755),
            Entry("sbin", "dir", 0o755),
        ]
        for a in applets:
            depth = a.count("/")
            entries.append(Entry(a, "symlink", 0o777, link="../" * depth + "bin/busybox"))
        buf = io.BytesIO()
        layer = write_layer(entries, buf)
        _put(blobs, buf.getvalue())
        config = {
            "created": CREATED,
            "architecture": arch,
            "os": os_,
            **({"variant": variant} if variant else {}),
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "history": [{"created": CREATED, "created_by": "busybox_base.py: busybox-static from Debian"}],
        }
        cfg = dumps(config)
        cfg_digest = _put(blobs, cfg)
        manifest = dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": len(cfg)},
                "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
            }
        )
        plat = {"architecture": arch, "os": os_, **({"variant": variant} if variant else {})}
        manifests.append(
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _put(blobs, manifest), "size": len(manifest), "platform": plat}
        )
    index = dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
    index_digest = _put(blobs, index)
    top = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": index_digest,
                "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (dest / "index.json").write_text(json.dumps(top))
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return index_digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--platforms", default="linux/amd64,linux/arm64,linux/arm/v7")
    ap.add_argument("--debs", type=Path, required=True, help="directory with busybox-static .deb files")
    ap.add_argument("--tag", default="latest")
    a = ap.parse_args()
    print(make_layout(a.dest, a.platforms.split(","), a.debs, a.tag))


if __name__ == "__main__":
    sys.exit(main())
_ = tarfile  # layers are written by anyarch.archive.layer
