"""``anyarch run`` and ``anyarch doctor`` end to end: real crun, real QEMU, the busybox image.

The commands are run in a subprocess through ``anyarch.cli.main.main`` (the
error-to-exit-code mapping users get), registered here until main.py wires them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _missing(msg: str) -> None:
    """Fail in CI (ANYARCH_REQUIRE_REAL=1), skip visibly elsewhere."""
    if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def require_tool(name: str) -> None:
    if shutil.which(name) is None:
        _missing(f"{name} is not installed (run scripts/bootstrap.sh)")


@dataclass(frozen=True)
class CLIResult:
    code: int
    out: str
    err: str


ENTRY = (
    "import sys\n"
    "from anyarch.cli.main import cli, main\n"
    "from anyarch.cli import run, doctor\n"
    "run.register(cli)\n"
    "doctor.register(cli)\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def need_root() -> None:
    if os.geteuid() != 0:
        _missing("anyarch run needs root (crun, overlay mounts)")


class Cmd:
    def __init__(self, store: Path) -> None:
        self.store = store

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> CLIResult:
        e = dict(os.environ, ANYARCH_STORE=str(self.store), PYTHONPATH=str(REPO / "src"))
        e.pop("ANYARCH_DEBUG", None)
        e.update(env or {})
        p = subprocess.run(
            [sys.executable, "-c", ENTRY, *args], capture_output=True, env=e, timeout=120
        )
        return CLIResult(
            p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        )


@pytest.fixture(scope="module")
def bb(tmp_path_factory: pytest.TempPathFactory, busybox_layout: Path) -> Cmd:
    """A store holding the 3-platform busybox image as ``bb``."""
    need_root()
    require_tool("crun")
    store = tmp_path_factory.mktemp("runstore") / "store"
    cmd = Cmd(store)
    r = cmd("import", "--name", "bb", str(busybox_layout))
    assert r.code == 0, r
    return cmd


@pytest.fixture
def fresh(tmp_path: Path) -> Cmd:
    return Cmd(tmp_path / "store")


# --- run -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "machine"),
    [("linux/arm64", "aarch64"), ("linux/arm/v7", "armv7l"), (None, "x86_64")],
)
def test_run_prints_the_machine_of_each_platform(
    bb: Cmd, platform: str | None, machine: str
) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the expected machines are for an x86_64 host")
    args = ["run", *(["--platform", platform] if platform else []), "bb", "uname", "-m"]
    r = bb(*args)
    assert r.code == 0, r
    assert r.out == f"{machine}\n"


def test_run_exits_with_the_process_exit_code(bb: Cmd) -> None:
    r = bb("run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.code == 3, r
    assert r.out == "out\n"
    assert "err\n" in r.err
    assert bb("run", "--platform", "linux/arm64", "bb", "false").code == 1


def test_run_env_workdir_user_flags(bb: Cmd) -> None:
    script = 'echo "$FOO|$PWD|$PATH"; id -u; id -g'
    r = bb(
        "run",
        "-e",
        "FOO=bar",
        "-e",
        "PATH=/bin",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "bb",
        "sh",
        "-c",
        script,
    )
    assert r.code == 0, r
    assert r.out.splitlines() == ["bar|/tmp|/bin", "65534", "65534"]
    # without flags: the image's Env, WorkingDir / and root
    r = bb("run", "bb", "sh", "-c", script)
    assert r.out.splitlines() == [
        "|/|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "0",
        "0",
    ]
    # -e NAME copies the caller's value; a new working directory is created
    r = bb(
        "run",
        "-e",
        "HOSTVAR",
        "-w",
        "/new/dir",
        "bb",
        "sh",
        "-c",
        'echo "$HOSTVAR $PWD"',
        env={"HOSTVAR": "from-host"},
    )
    assert r.out == "from-host /new/dir\n", r


def test_run_entrypoint_and_default_cmd(bb: Cmd) -> None:
    r = bb("run", "--entrypoint", "echo", "bb", "a", "b")
    assert (r.code, r.out) == (0, "a b\n")
    r = bb("run", "bb")  # the image's Cmd: sh, reading an empty stdin
    assert r.code == 0, r


def test_run_network_none_has_only_loopback(bb: Cmd) -> None:
    r = bb("run", "--network", "none", "bb", "cat", "/proc/net/dev")
    assert r.code == 0, r
    ifaces = {line.split(":")[0].strip() for line in r.out.splitlines()[2:]}
    assert ifaces == {"lo"}


def test_run_discards_the_rootfs(bb: Cmd) -> None:
    r = bb("run", "bb", "sh", "-c", "echo x > /made-here; ls /made-here")
    assert r.out == "/made-here\n"
    r = bb("run", "bb", "ls", "/made-here")
    assert r.code != 0
    assert "No such file" in r.err
    tmp = bb.store / "snapshots" / ".tmp"
    assert [p.name for p in tmp.iterdir()] == []
    with open("/proc/self/mountinfo") as f:
        assert str(bb.store) not in f.read()


def test_run_errors_have_exit_codes_and_hints(bb: Cmd) -> None:
    r = bb("run", "--platform", "linux/s390x", "bb", "true")
    assert r.code == 3 and "no linux/s390x variant" in r.err and "Hint:" in r.err
    r = bb("run", "nosuchimage", "true")
    assert r.code == 3 and "not in the store" in r.err
    r = bb("run", "-w", "relative", "bb", "true")
    assert r.code == 2 and "absolute" in r.err
    r = bb("run", "--network", "bridge", "bb", "true")
    assert r.code == 2


def test_run_with_forced_copy_snapshotter(bb: Cmd) -> None:
    r = bb(
        "run",
        "--platform",
        "linux/arm64",
        "bb",
        "sh",
        "-c",
        "uname -m; ls /bin/busybox",
        env={"ANYARCH_SNAPSHOTTER": "copy"},
    )
    assert r.code == 0, r
    assert r.out == "aarch64\n/bin/busybox\n"


# --- doctor -----------------------------------------------------------------------------


def _rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert lines[0].split() == ["PLATFORM", "HOW", "INTERPRETER", "FLAGS", "NOTE"]
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells
    return rows


def test_doctor_text_table(fresh: Cmd) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("expectations for an x86_64 host")
    require_tool("crun")
    r = fresh("doctor")
    assert r.code == 0, r
    rows = _rows(r.out)
    assert rows["linux/amd64"][1] == "native"
    arm64 = rows["linux/arm64"]
    assert arm64[1] == "emulated"
    assert arm64[2].startswith("/") and "aarch64" in arm64[2]
    assert "F" in arm64[3]
    assert "linux/arm/v7" in rows and "linux/riscv64" in rows
    assert "OCI runtime:  crun " in r.out
    assert f"Store:        {fresh.store}" in r.out
    assert "overlayfs:" in r.out


def test_doctor_json(fresh: Cmd) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("expectations for an x86_64 host")
    r = fresh("doctor", "--platform", "linux/arm64,linux/amd64", "--format", "json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    by = {p["platform"]: p for p in doc["platforms"]}
    assert list(by) == ["linux/arm64", "linux/amd64"]
    assert by["linux/arm64"]["how"] == "emulated" and "F" in by["linux/arm64"]["flags"]
    assert by["linux/arm64"]["static"] is True
    assert by["linux/amd64"]["how"] == "native"
    assert doc["runtime"]["name"] in ("crun", "runc") and doc["runtime"]["version"]
    assert doc["store"] == str(fresh.store)
    assert doc["overlayfs"]["available"] is (os.geteuid() == 0)
    assert doc["fix"] == []


AARCH64_MAGIC = "7f454c460201010000000000000000000200b700"
AARCH64_MASK = "ffffffffffffff00fffffffffffffffffeffffff"


def test_doctor_exit_8_with_the_fix_for_an_unavailable_platform(fresh: Cmd, tmp_path: Path) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("expectations for an x86_64 host")
    binfmt = tmp_path / "binfmt"
    binfmt.mkdir()
    (binfmt / "register").touch()
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "qemu-aarch64").write_text(
        f"disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
        f"magic {AARCH64_MAGIC}\nmask {AARCH64_MASK}\n"
    )
    r = fresh(
        "doctor",
        "--binfmt-dir",
        str(binfmt),
        "--platform",
        "linux/arm64",
        "--platform",
        "linux/amd64",
    )
    assert r.code == 8, r
    rows = _rows(r.out)
    assert rows["linux/arm64"][1] == "unavailable" and rows["linux/amd64"][1] == "native"
    fix = r.out.split("To fix:\n", 1)[1].split()
    assert "update-binfmts --enable qemu-aarch64" in " ".join(fix)
    assert "cannot run linux/arm64" in r.err and "update-binfmts --enable qemu-aarch64" in r.err
    # the same host without --platform: a report, not a failure
    r = fresh("doctor", "--binfmt-dir", str(binfmt))
    assert r.code == 0 and "To fix:" in r.out
    r = fresh("doctor", "--platform", "linux/arm64/v8/x")
    assert r.code == 4
