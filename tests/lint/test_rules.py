"""Each rule of ``anyarch check`` on Dockerfiles written for it: what it finds, where, and what it leaves alone.

Images are resolved by a fake resolver (a mapping of reference to platforms),
so these tests need no store and no network; ``test_cli.py`` checks the real
lookups.  Unless a test says otherwise the build targets linux/amd64 and
linux/arm64 from a linux/amd64 build machine.
"""

from __future__ import annotations

import pytest

from anyarch.errors import DockerfileError
from anyarch.lint import Severity
from lint.helpers_lint import found, run

ALPINE = "docker.io/library/alpine:3.19"
GOLANG = "docker.io/library/golang:1.22"
NODE = "docker.io/library/node:20"
MULTI = ("linux/amd64", "linux/arm64", "linux/arm/v7")
BOTH = ("linux/amd64", "linux/arm64")


# --- MA001 / MA002 ---------------------------------------------------------------------


def test_from_image_missing_a_platform_is_an_error_listing_what_it_has() -> None:
    report = run(
        """
        FROM golang:1.22 AS build
        RUN go version
        FROM alpine:3.19
        COPY --from=build /usr/local/go/bin/go /go
        """,
        images={GOLANG: BOTH, ALPINE: ("linux/amd64", "linux/386")},
    )
    assert found(report) == [("MA001", 3, 6)]
    (finding,) = report.findings
    assert finding.severity is Severity.ERROR
    assert "alpine:3.19 is not published for linux/arm64" in finding.message
    assert "it has linux/amd64, linux/386" in finding.message
    assert finding.text == "FROM alpine:3.19"
    assert report.exit_code == 1


def test_missing_platform_of_a_copy_from_image_points_at_the_image() -> None:
    report = run(
        """
        FROM alpine:3.19
        COPY --from=busybox:1.36 /bin/busybox /bin/busybox
        """,
        images={ALPINE: MULTI, "docker.io/library/busybox:1.36": ("linux/amd64",)},
    )
    assert found(report) == [("MA001", 2, 13)]
    assert "COPY --from image busybox:1.36" in report.findings[0].message


def test_platforms_compare_normalised_but_without_fallbacks() -> None:
    text = "FROM alpine:3.19\n"
    # arm64/v8 is arm64
    assert found(run(text, images={ALPINE: ("linux/amd64", "linux/arm64/v8")})) == []
    # an arm/v6 image does not serve an arm/v7 build
    report = run(text, ("linux/arm/v7",), images={ALPINE: ("linux/arm/v6", "linux/amd64")})
    assert found(report) == [("MA001", 1, 6)]
    assert "not published for linux/arm/v7" in report.findings[0].message


def test_single_arch_image_is_a_warning_naming_its_platform() -> None:
    report = run("FROM alpine:3.19\n", ("linux/arm64",), images={ALPINE: ("linux/arm64",)})
    assert found(report) == [("MA002", 1, 6)]
    assert report.findings[0].severity is Severity.WARNING
    assert "published for linux/arm64 only" in report.findings[0].message
    assert report.exit_code == 0


def test_attestation_entries_are_not_platforms() -> None:
    report = run(
        "FROM alpine:3.19\n", ("linux/amd64",), images={ALPINE: ("linux/amd64", "unknown/unknown")}
    )
    assert found(report) == [("MA002", 1, 6)]


def test_buildplatform_stage_needs_only_the_build_platform() -> None:
    report = run(
        """
        FROM --platform=$BUILDPLATFORM golang:1.22 AS build
        RUN echo build
        FROM alpine:3.19
        COPY --from=build /etc/os-release /x
        """,
        images={GOLANG: ("linux/amd64",), ALPINE: MULTI},
    )
    # no MA001: an amd64-only golang serves an amd64 build machine for every target
    assert found(report) == [("MA002", 1, 32)]


def test_unknown_images_are_reported_as_unresolved_not_as_findings() -> None:
    report = run("FROM alpine:3.19\n", images={ALPINE: "unknown"})
    assert found(report) == []
    assert list(report.unresolved) == [ALPINE]


def test_multi_arch_images_give_no_finding() -> None:
    report = run("FROM alpine:3.19\nRUN apk add --no-cache curl\n", images={ALPINE: MULTI})
    assert found(report) == []


# --- MA003 -----------------------------------------------------------------------------


def test_hardcoded_arch_in_a_download_url_with_rewrite() -> None:
    report = run(
        """
        FROM alpine:3.19
        RUN wget -O /usr/local/bin/tool https://example.com/tool-linux-amd64 && chmod +x /usr/local/bin/tool
        """
    )
    assert found(report) == [("MA003", 2, 64)]
    finding = report.findings[0]
    assert finding.text[finding.column - 1 :].startswith("amd64")
    assert "the linux/arm64 build gets the same value" in finding.message
    assert "https://example.com/tool-linux-${TARGETARCH}" in finding.hint
    assert "add 'ARG TARGETARCH'" in finding.hint


def test_hardcoded_arch_hint_skips_the_arg_when_declared() -> None:
    report = run(
        """
        FROM alpine:3.19
        ARG TARGETARCH
        RUN apk add foo-arm64
        """
    )
    assert found(report) == [("MA003", 3, 17)]
    assert "ARG TARGETARCH" not in report.findings[0].hint


def test_kernel_and_debian_names_suggest_uname_and_dpkg() -> None:
    report = run(
        """
        FROM debian:12
        RUN ln -s /usr/lib/x86_64-linux-gnu/libz.so /usr/lib/libz.so
        RUN dpkg --add-architecture i386
        """
    )
    assert found(report) == [("MA003", 2, 20), ("MA003", 3, 29)]
    assert "/usr/lib/$(uname -m)-linux-gnu/libz.so" in report.findings[0].hint
    assert "$(dpkg --print-architecture)" in report.findings[1].hint


def test_hardcoded_arch_in_add_and_across_continuation_lines() -> None:
    report = run(
        """
        FROM alpine:3.19
        ADD https://example.com/tool_linux_arm64.tar.gz /tmp/
        RUN apk add --no-cache \\
              curl \\
              gcc-aarch64-none-elf
        """
    )
    assert found(report) == [("MA003", 2, 36), ("MA003", 5, 11)]
    # ADD of a URL with an architecture is MA003's, not also MA004's
    assert found(report, "MA004") == []


def test_one_finding_per_name_per_instruction() -> None:
    report = run(
        """
        FROM alpine:3.19
        RUN curl -o /a https://e.com/v1/linux-amd64/tool-amd64 && curl -o /b https://e.com/x-amd64.bin
        """
    )
    assert found(report) == [("MA003", 2, 39)]
    assert "2 more times in this instruction" in report.findings[0].message


def test_hardcoded_arch_ignores_comments() -> None:
    report = run(
        """
        FROM alpine:3.19
        RUN echo hello # the amd64 mirror is faster
        RUN apk add curl \\
        # x86_64 builds also need file
              file
        RUN <<EOF
        # aarch64 hosts are fine too
        echo done
        EOF
        """
    )
    assert found(report) == []


def test_hardcoded_arch_allowed_where_the_script_branches_on_the_architecture() -> None:
    report = run(
        """
        FROM alpine:3.19
        ARG TARGETARCH
        RUN case "$(uname -m)" in \\
              x86_64) arch=amd64 ;; \\
              aarch64) arch=arm64 ;; \\
            esac; \\
            wget -O /tool "https://example.com/tool-$arch"
        RUN if [ "$TARGETARCH" = "arm64" ]; then apk add foo-arm64; fi
        RUN dpkgArch="$(dpkg --print-architecture)"; \\
            case "$dpkgArch" in \\
              'amd64') url='https://e.com/go.linux-amd64.tar.gz' ;; \\
              'armhf') url='https://e.com/go.linux-armv6l.tar.gz' ;; \\
            esac
        RUN [ "$(apk --print-arch)" != "ppc64le" ] && apk add nss_wrapper || true
        RUN ./configure $(test "$gnuArch" = 'riscv64-linux-gnu' && echo '--without-jit')
        RUN for arch in amd64 arm64; do echo "$arch"; done
        RUN arch="$(echo $TARGETARCH | sed -e s/amd64/x86_64/ -e s/arm64/aarch64/)"; echo "$arch"
        RUN docker pull --platform=linux/amd64 alpine && crane copy --platform linux/arm64 a b
        """
    )
    assert found(report) == []


def test_arch_of_every_target_is_not_hardcoding_in_a_per_arch_build() -> None:
    text = """
        FROM alpine:3.19
        RUN wget https://example.com/tool-linux-amd64.tar.gz
        """
    assert found(run(text, ("linux/amd64",)), "MA003") == []
    assert found(run(text, ("linux/arm64",)), "MA003") == [("MA003", 2, 41)]


def test_buildplatform_stage_hint_mentions_buildarch() -> None:
    report = run(
        """
        FROM --platform=$BUILDPLATFORM alpine:3.19 AS tools
        RUN wget https://example.com/protoc-linux-x86_64.zip
        FROM alpine:3.19
        COPY --from=tools /etc/hostname /x
        """
    )
    assert found(report) == [("MA003", 2, 43)]
    assert "${BUILDARCH}" in report.findings[0].hint
    assert "build platform" in report.findings[0].message


# --- MA004 -----------------------------------------------------------------------------


def test_binary_downloads_without_an_arch_variable_are_info() -> None:
    report = run(
        """
        FROM alpine:3.19
        RUN curl -fsSL -o /usr/local/bin/kubectl https://dl.k8s.io/release/v1.30.0/bin/linux/kubectl
        ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
        RUN curl -fsSL https://example.com/releases/download/v2/tool-linux.tar.gz | tar -xz -C /usr/local/bin
        """
    )
    assert found(report) == [("MA004", 2, 42), ("MA004", 3, 5), ("MA004", 4, 16)]
    assert all(f.severity is Severity.INFO for f in report.findings)
    assert report.exit_code == 0
    assert "https://dl.k8s.io/release/v1.30.0/bin/linux/kubectl" in report.findings[0].message


def test_downloads_that_are_fine() -> None:
    report = run(
        """
        FROM alpine:3.19
        ARG TARGETARCH
        RUN curl -fsSL https://deb.nodesource.com/setup_20.x | sh -
        RUN curl -fsSLo /etc/apk/keys/repo.rsa.pub https://example.com/keys/repo.rsa.pub
        RUN wget -O src.tar.gz https://github.com/o/r/archive/refs/tags/v1.tar.gz
        ADD https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz /src/
        RUN curl -fsSLo /usr/local/bin/tool https://example.com/releases/download/v1/tool-${TARGETARCH}
        RUN curl -fsSLo /usr/local/bin/tool "https://example.com/releases/download/v1/tool-$(uname -m)"
        """
    )
    assert found(report) == []


# --- MA005 -----------------------------------------------------------------------------


def test_os_family_commands_in_a_multi_os_build() -> None:
    report = run(
        """
        FROM mcr.microsoft.com/powershell:lts
        RUN apt-get update
        RUN powershell -Command Write-Host hi
        RUN ["cmd", "/S", "/C", "echo hi"]
        RUN pwsh -Command Write-Host hi
        """,
        ("linux/amd64", "windows/amd64"),
    )
    assert found(report) == [("MA005", 2, 5), ("MA005", 3, 5), ("MA005", 4, 7)]
    assert "builds for windows/amd64" in report.findings[0].message
    assert "'powershell' is Windows-only" in report.findings[1].message
    assert "builds for linux/amd64" in report.findings[1].message
    assert report.exit_code == 1


def test_windows_shell_instruction_in_a_linux_build() -> None:
    report = run(
        """
        FROM alpine:3.19
        SHELL ["powershell", "-Command"]
        RUN Write-Host hi
        """
    )
    assert found(report) == [("MA005", 2, 9)]
    assert "SHELL makes RUN use powershell" in report.findings[0].message


def test_os_commands_that_match_the_stage_platform() -> None:
    windows_only = """
        FROM mcr.microsoft.com/windows/servercore:ltsc2022
        SHELL ["powershell", "-Command"]
        RUN Write-Host hi
        RUN cmd /S /C echo hi
        """
    assert found(run(windows_only, ("windows/amd64",))) == []
    linux = """
        FROM debian:12
        RUN apt-get update && apt-get install -y curl
        RUN go build ./cmd/server
        """
    assert found(run(linux, ("linux/amd64",))) == []
    # a stage on the (linux) build platform may use apt-get in a build for Windows
    tools = """
        FROM --platform=$BUILDPLATFORM debian:12 AS tools
        RUN apt-get update
        FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
        COPY --from=tools /etc/hostname /x
        """
    assert found(run(tools, ("windows/amd64",)), "MA005") == []


# --- MA006 -----------------------------------------------------------------------------


def test_compiling_under_emulation_suggests_cross_compiling() -> None:
    report = run(
        """
        FROM golang:1.22 AS build
        WORKDIR /src
        RUN go mod download && go build -o /out/app .
        RUN go build -o /out/other ./other
        FROM alpine:3.19
        COPY --from=build /out/app /app
        """
    )
    assert found(report) == [("MA006", 3, 24)]
    finding = report.findings[0]
    assert finding.severity is Severity.INFO
    assert "'go build'" in finding.message and "emulation for linux/arm64" in finding.message
    assert "FROM --platform=$BUILDPLATFORM" in finding.hint
    assert "GOOS=$TARGETOS GOARCH=$TARGETARCH" in finding.hint


@pytest.mark.parametrize(
    ("command", "what"),
    [
        ("cargo build --release", "cargo build"),
        ("make -j4", "make"),
        ("gcc -O2 -o /x x.c", "gcc"),
        ("npm ci", "npm ci"),
        ("pip wheel -w /wheels .", "pip wheel"),
        ("./gradlew build", "gradlew"),
        ("mvn -q package", "mvn"),
        ("dotnet publish -c Release -o /out", "dotnet publish"),
        ("rustc main.rs", "rustc"),
    ],
)
def test_compilers_recognised(command: str, what: str) -> None:
    report = run(f"FROM alpine:3.19\nRUN {command}\n")
    assert found(report) == [("MA006", 2, 5)]
    assert f"'{what}'" in report.findings[0].message


def test_no_compile_finding_for_single_platform_or_native_stages() -> None:
    text = "FROM golang:1.22\nRUN go build -o /app .\n"
    assert found(run(text, ("linux/amd64",))) == []
    # all targets native to the build machine
    assert found(run(text, ("linux/arm64",), build="linux/arm64")) == []
    # a stage based on a $BUILDPLATFORM stage runs there too
    based = """
        FROM --platform=$BUILDPLATFORM golang:1.22 AS base
        FROM base AS build
        RUN make
        FROM alpine:3.19
        COPY --from=build /etc/hostname /x
        """
    assert found(run(based)) == []


def test_clean_cross_compile_pattern_has_no_findings() -> None:
    report = run(
        """
        # syntax=docker/dockerfile:1
        FROM --platform=$BUILDPLATFORM golang:1.22 AS build
        ARG TARGETOS TARGETARCH
        WORKDIR /src
        COPY . .
        RUN --mount=type=cache,target=/root/.cache/go-build \\
            CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .

        FROM alpine:3.19
        RUN apk add --no-cache ca-certificates
        COPY --from=build /out/app /usr/local/bin/app
        ENTRYPOINT ["/usr/local/bin/app"]
        """,
        ("linux/amd64", "linux/arm64", "linux/arm/v7"),
        images={GOLANG: MULTI, ALPINE: MULTI},
    )
    assert found(report) == []
    assert report.unresolved == {}


# --- MA007 -----------------------------------------------------------------------------


def test_constant_from_platform_in_a_multi_platform_build() -> None:
    report = run(
        """
        FROM --platform=linux/amd64 node:20 AS assets
        RUN npm ci && npm run build
        FROM --platform=linux/amd64 nginx:1.25
        COPY --from=assets /dist /usr/share/nginx/html
        """
    )
    assert found(report) == [("MA007", 1, 6), ("MA007", 3, 6)]
    assert "fixes stage assets to linux/amd64" in report.findings[0].message
    assert "would hold linux/amd64 binaries" in report.findings[1].message
    assert "would hold" not in report.findings[0].message
    # a pinned stage does not compile under emulation: no MA006


def test_platform_flags_that_follow_the_build() -> None:
    for flag in ("$BUILDPLATFORM", "$TARGETPLATFORM", "${BUILDOS}/${BUILDARCH}"):
        report = run(f"FROM --platform={flag} alpine:3.19\nRUN echo hi\n")
        assert found(report, "MA007") == [], flag
    assert found(run("FROM --platform=linux/amd64 alpine:3.19\n", ("linux/amd64",))) == []


def test_constant_platform_through_a_global_arg() -> None:
    report = run(
        """
        ARG PLATFORM=linux/arm64
        FROM --platform=$PLATFORM alpine:3.19
        """
    )
    assert found(report) == [("MA007", 2, 6)]


# --- MA008 -----------------------------------------------------------------------------


def test_platform_args_used_without_arg() -> None:
    report = run(
        """
        ARG TARGETARCH
        FROM alpine:3.19
        RUN echo $TARGETARCH
        ARG TARGETOS
        RUN echo ${TARGETOS} ${BUILDPLATFORM:-none}
        WORKDIR /out/$TARGETVARIANT
        """
    )
    assert found(report) == [("MA008", 3, 10), ("MA008", 5, 22), ("MA008", 6, 14)]
    assert all(f.severity is Severity.ERROR for f in report.findings)
    assert "before the first FROM is not visible" in report.findings[0].message
    assert "add 'ARG TARGETARCH'" in report.findings[0].hint
    assert "BUILDPLATFORM" in report.findings[1].message


def test_arg_declared_after_use_and_mount_options() -> None:
    report = run(
        """
        FROM alpine:3.19
        RUN --mount=type=cache,id=apk-$TARGETPLATFORM,target=/var/cache/apk apk add curl
        ARG TARGETPLATFORM
        RUN echo $TARGETPLATFORM
        """
    )
    assert found(report) == [("MA008", 2, 31)]
    assert "comes later" in report.findings[0].message


def test_platform_args_that_are_declared_or_not_expanded() -> None:
    report = run(
        """
        FROM --platform=$BUILDPLATFORM alpine:3.19 AS base
        ARG TARGETARCH BUILDARCH
        ENV ARCH=$TARGETARCH
        RUN echo $TARGETARCH $BUILDARCH \\$TARGETOS $TARGETARCHIVE
        COPY <<'EOF' /notes.txt
        built for $TARGETPLATFORM
        EOF
        CMD echo $TARGETARCH
        FROM base
        ENV TARGETOS=linux
        RUN echo $TARGETOS
        """
    )
    assert found(report) == []


def test_env_of_a_base_stage_counts_as_declared() -> None:
    report = run(
        """
        FROM alpine:3.19 AS base
        ARG TARGETARCH
        ENV TARGETARCH=$TARGETARCH
        FROM base
        RUN echo $TARGETARCH $TARGETOS
        """
    )
    assert found(report) == [("MA008", 5, 22)]


# --- the Dockerfile itself -----------------------------------------------------------


def test_dockerfile_errors_raise_with_location() -> None:
    with pytest.raises(DockerfileError) as err:
        run("FROM alpine:3.19\nRUN --mount=type=bogus echo\n")
    assert err.value.location is not None and err.value.location.line == 2
    with pytest.raises(DockerfileError, match="should not be blank"):
        run("ARG BASE\nFROM $BASE\n")


def test_build_args_reach_the_plan() -> None:
    report = run(
        "ARG BASE\nFROM $BASE\n", build_args={"BASE": "alpine:3.19"}, images={ALPINE: MULTI}
    )
    assert found(report) == []
    assert report.images[ALPINE] != "unknown"


def test_hardcoded_arch_in_exec_form_says_to_use_the_shell_form() -> None:
    report = run(
        """
        FROM alpine:3.19
        RUN ["wget", "-O", "/tool", "https://example.com/tool-arm64"]
        """
    )
    assert found(report) == [("MA003", 2, 55)]
    assert "shell form" in report.findings[0].hint
