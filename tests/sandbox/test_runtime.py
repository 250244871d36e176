"""Real containers: crun runs busybox in a rootfs, natively and under QEMU."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from anyarch.errors import BuildError, EmulationUnavailableError, RuntimeMissingError
from anyarch.sandbox import Mount, RunSpec, execute, find_runtime, run
from anyarch.sandbox.runtime import RunResult
from anyarch.sandbox.spec import MASKED_PATHS

pytestmark = pytest.mark.usefixtures("crun_path")

#: Docker's default capability set as /proc/PID/status prints it.
DOCKER_CAPS_HEX = "00000000a80425fb"


def sh(rootfs: Path, script: str, **kw: object) -> RunSpec:
    return RunSpec(rootfs=rootfs, args=["/bin/sh", "-c", script], **kw)  # type: ignore[arg-type]


def output(spec: RunSpec, **kw: object) -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    result = execute(spec, stdout_cb=out.append, stderr_cb=err.append, **kw)  # type: ignore[arg-type]
    return result.exit_code, out, err


def test_output_is_streamed_line_by_line_to_the_right_callback(rootfs: Path) -> None:
    code, out, err = output(
        sh(rootfs, "echo hello; echo to-stderr >&2; printf 'a\\nb\\nno-newline'")
    )
    assert code == 0
    assert out == ["hello", "a", "b", "no-newline"]
    assert err == ["to-stderr"]


def test_lines_arrive_while_the_process_still_runs(rootfs: Path) -> None:
    seen: list[tuple[str, float]] = []
    start = time.monotonic()
    run(
        sh(rootfs, "echo first; sleep 1; echo second"),
        stdout_cb=lambda line: seen.append((line, time.monotonic() - start)),
    )
    assert [line for line, _ in seen] == ["first", "second"]
    assert seen[1][1] - seen[0][1] >= 0.8, "first line was held back until exit"


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_exit_code_propagates(rootfs: Path, code: int) -> None:
    assert run(sh(rootfs, f"exit {code}")) == code


def test_failed_step_error_uses_buildkit_wording_and_keeps_the_tail(rootfs: Path) -> None:
    result = execute(sh(rootfs, "for i in $(seq 1 50); do echo line$i; done; exit 3"))
    assert result.exit_code == 3
    assert len(result.tail) == 20 and result.tail[-1] == "line50" and result.tail[0] == "line31"
    with pytest.raises(BuildError) as info:
        result.check()
    assert str(info.value) == (
        "process \"/bin/sh -c 'for i in $(seq 1 50); do echo line$i; done; exit 3'\" "
        "did not complete successfully: exit code: 3"
    )
    assert info.value.hint is not None and "line50" in info.value.hint
    assert info.value.exit_code == 7


def test_missing_executable_is_reported_by_the_runtime(rootfs: Path) -> None:
    result = execute(RunSpec(rootfs, ["no-such-tool"]))
    assert result.exit_code != 0
    assert any("no-such-tool" in line for line in result.tail)


def test_env_and_default_path_and_home(rootfs: Path) -> None:
    code, out, _ = output(sh(rootfs, 'echo "$FOO|$PATH|$HOME"', env=["FOO=bar baz"]))
    assert code == 0
    assert out == ["bar baz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root"]


def test_explicit_path_is_kept(rootfs: Path) -> None:
    _, out, _ = output(sh(rootfs, 'echo "$PATH"', env=["PATH=/bin"]))
    assert out == ["/bin"]


def test_cwd_is_created_for_the_user_and_kept(rootfs: Path) -> None:
    _, out, _ = output(sh(rootfs, "pwd; touch x", cwd="/work/dir", user="app"))
    assert out == ["/work/dir"]
    st = os.stat(rootfs / "work" / "dir")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert (rootfs / "work" / "dir" / "x").exists()


def test_user_by_name_gets_uid_gid_groups_and_home(rootfs: Path) -> None:
    _, out, _ = output(sh(rootfs, 'id -u; id -g; id -G; echo "$HOME"', user="app"))
    assert out[0] == "1000"
    assert out[1] == "1000"
    assert set(out[2].split()) == {"1000", "50"}
    assert out[3] == "/home/app"


@pytest.mark.parametrize(
    ("user", "expected"),
    [("1000:50", "1000 50"), ("app:staff", "1000 50"), ("4242", "4242 0"), ("", "0 0")],
)
def test_user_forms(rootfs: Path, user: str, expected: str) -> None:
    _, out, _ = output(sh(rootfs, 'echo "$(id -u) $(id -g)"', user=user))
    assert out == [expected]


def test_unknown_user_fails_before_running_with_dockers_wording(rootfs: Path) -> None:
    with pytest.raises(BuildError) as info:
        execute(sh(rootfs, "touch /ran", user="ghost"))
    assert str(info.value) == "unable to find user ghost: no matching entries in passwd file"
    assert info.value.hint
    assert not (rootfs / "ran").exists()


def test_root_has_dockers_capabilities_and_a_user_has_none(rootfs: Path) -> None:
    _, out, _ = output(sh(rootfs, "grep -E '^Cap(Eff|Bnd)' /proc/self/status"))
    assert out == [f"CapBnd:\t{DOCKER_CAPS_HEX}", f"CapEff:\t{DOCKER_CAPS_HEX}"] or out == [
        f"CapEff:\t{DOCKER_CAPS_HEX}",
        f"CapBnd:\t{DOCKER_CAPS_HEX}",
    ]
    _, out, _ = output(sh(rootfs, "grep -E '^CapEff' /proc/self/status", user="app"))
    assert out == ["CapEff:\t0000000000000000"]


def test_no_new_privileges_and_read_only_proc_sys(rootfs: Path) -> None:
    code, out, _ = output(
        sh(
            rootfs,
            "grep NoNewPrivs /proc/self/status; "
            "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo wrote || echo refused",
        )
    )
    assert code == 0
    assert out[0].split() == ["NoNewPrivs:", "1"]
    assert out[1] == "refused"


def test_dockers_masked_paths_are_empty_inside(rootfs: Path) -> None:
    present = [p for p in MASKED_PATHS if Path(p).exists()]
    if not present:
        pytest.skip("this host has none of Docker's masked paths")
    checks = "; ".join(
        f"echo {p}=$(cat {p} 2>/dev/null | wc -c)"
        if Path(p).is_file()
        else f"echo {p}=$(ls -A {p} | wc -l)"
        for p in present
    )
    _, out, _ = output(sh(rootfs, checks))
    assert out == [f"{p}=0" for p in present]


def test_pid_namespace_makes_the_process_pid_1(rootfs: Path) -> None:
    _, out, _ = output(sh(rootfs, "echo $$; ls /proc | grep -c '^[0-9]'"))
    assert out[0] == "1"


def test_hostname_hosts_and_resolv_conf(rootfs: Path) -> None:
    spec = sh(
        rootfs,
        "hostname; cat /etc/hosts; grep -c nameserver /etc/resolv.conf; "
        "echo x >> /etc/hosts 2>/dev/null && echo writable || echo read-only",
        hostname="builder1",
        extra_hosts=[("registry.local", "10.1.2.3")],
    )
    code, out, _ = output(spec)
    assert code == 0
    assert out[0] == "builder1"
    assert "127.0.0.1\tlocalhost builder1" in out
    assert "10.1.2.3\tregistry.local" in out
    assert int(out[-2]) >= 1
    assert out[-1] == "read-only"
    # The mount points made for /etc/hosts and /etc/resolv.conf are gone again,
    # so they cannot end up in the step's layer.
    assert not (rootfs / "etc" / "hosts").exists()
    assert not (rootfs / "etc" / "resolv.conf").exists()


def _interfaces(proc_net_dev: list[str]) -> set[str]:
    return {line.split(":")[0].strip() for line in proc_net_dev if ":" in line}


def test_network_none_has_only_loopback(rootfs: Path) -> None:
    _, out, _ = output(sh(rootfs, "cat /proc/net/dev", network="none"))
    assert _interfaces(out) == {"lo"}


def test_network_default_and_host_share_the_host_network(rootfs: Path) -> None:
    host = _interfaces(Path("/proc/net/dev").read_text().splitlines())
    for mode in ("default", "host"):
        _, out, _ = output(sh(rootfs, "cat /proc/net/dev", network=mode))
        assert _interfaces(out) == host


def test_bind_mounts_read_only_and_read_write(rootfs: Path, tmp_path: Path) -> None:
    src = tmp_path / "ctx"
    src.mkdir()
    (src / "in.txt").write_text("from host\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    spec = sh(
        rootfs,
        "cat /src/in.txt; (echo no > /src/new) 2>/dev/null && echo writable || echo read-only; "
        "echo result > /out/res.txt",
        mounts=[
            Mount("bind", "/src", source=src, readonly=True),
            Mount("cache", "/out", source=out_dir),
        ],
    )
    code, out, _ = output(spec)
    assert code == 0
    assert out == ["from host", "read-only"]
    assert not (src / "new").exists()
    assert (out_dir / "res.txt").read_text() == "result\n"
    # Mount points anyarch had to create are removed; they are not the step's output.
    assert not (rootfs / "src").exists() and not (rootfs / "out").exists()


def test_secret_file_is_mounted_read_only(rootfs: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    spec = sh(
        rootfs,
        "cat /run/secrets/token; echo; (echo x > /run/secrets/token) 2>/dev/null || echo refused",
        mounts=[Mount("secret", "/run/secrets/token", source=secret)],
    )
    _, out, _ = output(spec)
    assert out == ["s3cr3t", "refused"]
    assert secret.read_text() == "s3cr3t"
    assert not (rootfs / "run").exists()


def test_tmpfs_mount_is_writable_and_leaves_nothing_behind(rootfs: Path) -> None:
    spec = sh(
        rootfs,
        "grep ' /scratch ' /proc/mounts | cut -d' ' -f3; echo data > /scratch/f; cat /scratch/f",
        mounts=[Mount("tmpfs", "/scratch", options=("size=1m",))],
    )
    code, out, _ = output(spec)
    assert code == 0
    assert out == ["tmpfs", "data"]
    assert not (rootfs / "scratch").exists()


def test_existing_mount_point_with_content_is_left_alone(rootfs: Path, tmp_path: Path) -> None:
    (rootfs / "data").mkdir()
    (rootfs / "data" / "keep").write_text("image content")
    src = tmp_path / "src"
    src.mkdir()
    run(sh(rootfs, "true", mounts=[Mount("bind", "/data", source=src)]))
    assert (rootfs / "data" / "keep").read_text() == "image content"


def test_timeout_kills_the_container(rootfs: Path) -> None:
    start = time.monotonic()
    with pytest.raises(BuildError, match=r"timed out after 1s"):
        run(sh(rootfs, "sleep 30"), timeout=1)
    assert time.monotonic() - start < 10


def test_exception_in_callback_stops_the_container_promptly(rootfs: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()

    def boom(line: str) -> None:
        raise RuntimeError(f"callback saw {line}")

    start = time.monotonic()
    spec = sh(
        rootfs, "echo hi; sleep 2; touch /m/too-late", mounts=[Mount("bind", "/m", source=shared)]
    )
    with pytest.raises(RuntimeError, match="callback saw hi"):
        run(spec, stdout_cb=boom)
    assert time.monotonic() - start < 1.5
    time.sleep(max(0.0, 2.8 - (time.monotonic() - start)))  # past the step's `sleep 2`
    assert not (shared / "too-late").exists(), "the container kept running"
    assert not (rootfs / "etc" / "hosts").exists()


def test_ctrl_c_kills_the_container_and_cleans_up(rootfs: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    spec = sh(
        rootfs,
        "touch /m/started; sleep 2; touch /m/too-late",
        mounts=[Mount("bind", "/m", source=shared)],
    )
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run(spec)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 1.5
    assert (shared / "started").exists()
    time.sleep(max(0.0, 2.8 - (time.monotonic() - start)))  # past the step's `sleep 2`
    assert not (shared / "too-late").exists(), "the container survived Ctrl-C"
    assert not (rootfs / "m").exists()
    assert not any(Path(tempfile.gettempdir()).glob(f"anyarch-run-*/state/anyarch-{os.getpid()}-*"))


def test_runtime_missing_names_the_runtime_and_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANYARCH_RUNTIME", raising=False)
    with pytest.raises(RuntimeMissingError) as info:
        find_runtime("crun-does-not-exist")
    assert "crun-does-not-exist not found" in str(info.value)
    assert info.value.hint is not None and "apt-get install crun" in info.value.hint
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeMissingError, match="crun or runc not found"):
        find_runtime()


def test_find_runtime_prefers_crun() -> None:
    rt = find_runtime()
    assert rt.name == "crun" and Path(rt.path).name == "crun"


# --- foreign platforms through QEMU ------------------------------------------


@pytest.mark.parametrize(
    ("arch", "platform", "handler", "machine"),
    [
        ("arm64", "linux/arm64", "qemu-aarch64", "aarch64"),
        ("arm/v7", "linux/arm/v7", "qemu-arm", "armv7l"),
    ],
)
def test_foreign_rootfs_runs_under_qemu(
    make_rootfs: Callable[[str], Path],
    require_binfmt: Callable[[str], None],
    arch: str,
    platform: str,
    handler: str,
    machine: str,
) -> None:
    require_binfmt(handler)
    rootfs = make_rootfs(arch)
    code, out, _ = output(sh(rootfs, "uname -m; id -u", platform=platform, user="app"))
    assert code == 0
    assert out == [machine, "1000"]


def test_386_rootfs_runs_natively_with_a_32_bit_personality(
    make_rootfs: Callable[[str], Path],
) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("linux/386 runs natively only on an x86_64 host")
    rootfs = make_rootfs("386")
    _, out, _ = output(sh(rootfs, "uname -m", platform="linux/386"))
    assert out == ["i686"]


def test_unrunnable_platform_fails_before_starting_anything(rootfs: Path, tmp_path: Path) -> None:
    fake = tmp_path / "binfmt"
    fake.mkdir()
    (fake / "register").touch()
    (fake / "status").write_text("enabled\n")
    with pytest.raises(EmulationUnavailableError) as info:
        execute(sh(rootfs, "touch /ran", platform="linux/s390x"), binfmt_dir=fake)
    assert "cannot run linux/s390x binaries" in str(info.value)
    assert not (rootfs / "ran").exists()


def test_run_result_check_passes_through_success() -> None:
    ok = RunResult(0, ("done",), 0.1, ("true",))
    assert ok.check() is ok


def test_relative_rootfs_path_works(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(rootfs.parent)
    assert run(sh(Path(rootfs.name), "test -x /bin/busybox")) == 0


def test_image_symlinks_do_not_redirect_mount_points_to_the_host(
    rootfs: Path, tmp_path: Path
) -> None:
    # An image whose /etc is an absolute link to a host directory: the
    # /etc/hosts mount point must be made inside the rootfs, never on the host.
    host_dir = tmp_path / "host-etc"
    host_dir.mkdir()
    for entry in (rootfs / "etc").iterdir():
        entry.unlink()
    (rootfs / "etc").rmdir()
    (rootfs / "etc").symlink_to(host_dir)
    code, out, _ = output(sh(rootfs, "cat /etc/hosts | head -1"))
    assert code == 0 and out == ["127.0.0.1\tlocalhost anyarch"]
    assert list(host_dir.iterdir()) == []


def test_a_file_in_the_way_of_the_working_directory_is_a_clear_error(rootfs: Path) -> None:
    with pytest.raises(BuildError) as info:
        run(sh(rootfs, "true", cwd="/etc/passwd/sub"))
    assert str(info.value).startswith("cannot create /etc/passwd/sub in rootfs")
    assert str(info.value).endswith("/etc/passwd is not a directory")
