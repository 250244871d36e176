"""What the store and `export` write validates against the OCI schemas (image-spec's validator)."""

from __future__ import annotations

import json

from anyarch.oci import mediatype, validate


def test_store_index_json_and_exported_layout_validate(anyarch, busybox_layout, tmp_path):
    anyarch("import", "--name", "bb:1", str(busybox_layout), check=True)
    anyarch("tag", "bb:1", "bb:2", check=True)
    raw = (anyarch.store / "index.json").read_bytes()
    assert validate.problems(raw, mediatype.OCI_INDEX) == []
    assert json.loads((anyarch.store / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    out = tmp_path / "exported"
    anyarch("export", "bb:1", str(out), check=True)
    assert validate.problems((out / "index.json").read_bytes(), mediatype.OCI_INDEX) == []
    # every manifest and index blob in the export validates too
    for blob in (out / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            continue  # a layer
        mt = doc.get("mediaType")
        if mt in (mediatype.OCI_INDEX, mediatype.OCI_MANIFEST):
            assert validate.problems(data, mt) == [], blob.name
        elif "rootfs" in doc:
            assert validate.problems(data, mediatype.OCI_CONFIG) == [], blob.name
