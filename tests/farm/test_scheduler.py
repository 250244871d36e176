"""The pure scheduler: which node builds which platform, and the reason a user is shown."""

from __future__ import annotations

import pytest

from anyarch.errors import FarmError, InvalidPlatformError
from anyarch.farm.scheduler import Mode, NodeCapabilities, canonical, describe, schedule

AMD = ("linux/amd64", "linux/386")
ARM64 = ("linux/arm64", "linux/arm/v7", "linux/arm/v6")
QEMU_ON_AMD = ("linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/s390x")


def amd(
    name: str, pinned: tuple[str, ...] = (), emulates: tuple[str, ...] = QEMU_ON_AMD, **kw: object
) -> NodeCapabilities:
    return NodeCapabilities(
        name,
        pinned=pinned,
        native=AMD,
        emulated=emulates,
        emulators={p: "qemu-" + p.split("/")[1] for p in emulates},
        **kw,  # type: ignore[arg-type]
    )


def arm(name: str, pinned: tuple[str, ...] = (), **kw: object) -> NodeCapabilities:
    return NodeCapabilities(name, pinned=pinned, native=ARM64, emulated=(), **kw)  # type: ignore[arg-type]


def where(plan: object) -> dict[str, str]:
    return {p.platform: p.node for p in plan.placements}  # type: ignore[attr-defined]


# --- native and pinned first ---------------------------------------------------------------


def test_native_node_wins_over_emulation() -> None:
    plan = schedule([amd("x86"), arm("pi")], ["linux/amd64", "linux/arm64"])
    assert where(plan) == {"linux/amd64": "x86", "linux/arm64": "pi"}
    assert all(p.mode is Mode.NATIVE for p in plan.placements)
    assert plan.emulated == ()
    assert "natively" in plan.for_platform("linux/arm64").reason


def test_native_wins_even_when_listed_last_and_busier() -> None:
    # the arm node is already loaded; emulating on the idle amd node is still not preferred
    plan = schedule([amd("x86"), arm("pi")], ["linux/arm64"], load={"pi": 3})
    assert where(plan) == {"linux/arm64": "pi"}


def test_pinned_node_first_even_over_an_unpinned_native_one() -> None:
    a, b = amd("a"), amd("b", pinned=("linux/amd64",))
    plan = schedule([a, b], ["linux/amd64"])
    p = plan.for_platform("linux/amd64")
    assert (p.node, p.pinned, p.mode) == ("b", True, Mode.NATIVE)
    assert "pinned" in p.reason


def test_pinned_platform_that_is_emulated_underneath_is_reported_as_emulated() -> None:
    plan = schedule(
        [
            amd("n1", pinned=("linux/amd64",)),
            amd("n2", pinned=("linux/arm64",)),
            amd("n3", pinned=("linux/arm/v7",)),
        ],
        ["linux/amd64", "linux/arm64", "linux/arm/v7"],
    )
    assert where(plan) == {"linux/amd64": "n1", "linux/arm64": "n2", "linux/arm/v7": "n3"}
    arm64 = plan.for_platform("linux/arm64")
    assert arm64.pinned and arm64.mode is Mode.EMULATED
    assert "qemu-arm64" in arm64.reason and "pinned" in arm64.reason
    assert [p.platform for p in plan.emulated] == ["linux/arm64", "linux/arm/v7"]


def test_pinned_but_unable_node_is_not_used_and_noted() -> None:
    cant = NodeCapabilities("odd", pinned=("linux/s390x",), native=AMD, emulated=())
    plan = schedule([cant, amd("x86")], ["linux/s390x"])
    assert where(plan) == {"linux/s390x": "x86"}
    assert plan.for_platform("linux/s390x").mode is Mode.EMULATED
    assert any(
        "odd is pinned to linux/s390x but can neither run nor emulate it" in n for n in plan.notes
    )


def test_among_pinned_nodes_a_native_one_comes_first() -> None:
    emu = amd("emu", pinned=("linux/arm64",))
    nat = arm("nat", pinned=("linux/arm64",))
    plan = schedule([emu, nat], ["linux/arm64"])
    assert where(plan) == {"linux/arm64": "nat"}


# --- spreading ---------------------------------------------------------------------------------


def test_two_same_arch_nodes_each_take_a_share() -> None:
    plan = schedule([amd("a"), amd("b")], ["linux/amd64", "linux/386"])
    assert sorted(where(plan).values()) == ["a", "b"]
    assert "least busy" in plan.for_platform("linux/386").reason


def test_spread_over_pinned_nodes_too() -> None:
    nodes = [
        amd("a", pinned=("linux/amd64", "linux/386")),
        amd("b", pinned=("linux/amd64", "linux/386")),
    ]
    plan = schedule(nodes, ["linux/amd64", "linux/386"])
    assert sorted(where(plan).values()) == ["a", "b"]


def test_ties_go_to_the_node_listed_first() -> None:
    plan = schedule([amd("first"), amd("second")], ["linux/amd64"])
    assert where(plan) == {"linux/amd64": "first"}


def test_existing_load_moves_work_to_the_idle_node() -> None:
    plan = schedule([amd("a"), amd("b")], ["linux/amd64"], load={"a": 1})
    assert where(plan) == {"linux/amd64": "b"}


def test_most_constrained_platform_is_placed_first() -> None:
    # only `a` can emulate s390x; placing amd64 first on `a` (listed first) would pile both on it
    a = amd("a", emulates=("linux/s390x",))
    b = amd("b", emulates=())
    plan = schedule([a, b], ["linux/amd64", "linux/s390x"])
    assert where(plan) == {"linux/amd64": "b", "linux/s390x": "a"}


def test_four_platforms_over_two_equal_nodes_balance_two_each() -> None:
    plan = schedule(
        [amd("a"), amd("b")], ["linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/s390x"]
    )
    nodes = list(where(plan).values())
    assert nodes.count("a") == 2 and nodes.count("b") == 2


# --- emulation only where possible, never silent --------------------------------------------


def test_emulation_used_only_when_no_native_node_and_said_so() -> None:
    plan = schedule([amd("x86")], ["linux/arm64"])
    p = plan.for_platform("linux/arm64")
    assert p.mode is Mode.EMULATED
    assert "no node runs linux/arm64 natively" in p.reason
    assert "qemu-arm64" in p.reason
    rows = describe(plan)
    assert rows == [("linux/arm64", "x86", "EMULATED", p.reason)]


def test_node_that_cannot_emulate_is_never_given_the_platform() -> None:
    plain = amd("plain", emulates=())
    with pytest.raises(FarmError) as e:
        schedule([plain], ["linux/arm64"])
    assert "linux/arm64" in e.value.message
    assert e.value.hint and "doctor" in e.value.hint


def test_only_the_missing_platforms_are_named() -> None:
    with pytest.raises(FarmError) as e:
        schedule([amd("plain", emulates=())], ["linux/amd64", "linux/riscv64", "linux/arm64"])
    assert "linux/riscv64, linux/arm64" in e.value.message
    assert "linux/amd64" not in e.value.message


# --- require_native ------------------------------------------------------------------------------


def test_require_native_errors_before_placing_anything() -> None:
    with pytest.raises(FarmError) as e:
        schedule(
            [amd("x86", pinned=("linux/arm64",))],
            ["linux/amd64", "linux/arm64"],
            require_native=True,
        )
    assert e.value.message.startswith(
        "--require-native: no reachable node runs linux/arm64 natively"
    )
    assert e.value.hint and "x86 could emulate it" in e.value.hint
    assert e.value.exit_code == 9


def test_require_native_picks_a_native_node_over_a_pinned_emulating_one() -> None:
    plan = schedule(
        [amd("x86", pinned=("linux/arm64",)), arm("pi")], ["linux/arm64"], require_native=True
    )
    assert where(plan) == {"linux/arm64": "pi"}
    assert plan.for_platform("linux/arm64").mode is Mode.NATIVE


def test_require_native_satisfied_is_a_normal_plan() -> None:
    plan = schedule([amd("x86"), arm("pi")], ["linux/amd64", "linux/arm64"], require_native=True)
    assert plan.emulated == ()


# --- unreachable and excluded nodes --------------------------------------------------------------


def test_unreachable_nodes_are_left_out_and_listed() -> None:
    down = arm("pi", reachable=False, unreachable_reason="connection refused")
    plan = schedule([amd("x86"), down], ["linux/arm64"])
    assert where(plan) == {"linux/arm64": "x86"}
    assert plan.for_platform("linux/arm64").mode is Mode.EMULATED
    assert plan.skipped == (("pi", "connection refused"),)


def test_all_capable_nodes_down_names_the_platform_and_the_nodes() -> None:
    down = arm("pi", reachable=False, unreachable_reason="connection refused")
    with pytest.raises(FarmError) as e:
        schedule([down], ["linux/arm64"])
    assert "linux/arm64" in e.value.message
    assert "pi: connection refused" in e.value.message
    assert "no node of the builder is reachable" in e.value.message


def test_excluded_node_is_not_used_for_a_retry() -> None:
    plan = schedule([arm("pi1"), arm("pi2")], ["linux/arm64"], exclude={"pi1"}, load={"pi2": 5})
    assert where(plan) == {"linux/arm64": "pi2"}
    assert ("pi1", "excluded") in plan.skipped


# --- platform spelling ----------------------------------------------------------------------------


def test_platform_spellings_are_normalised() -> None:
    assert canonical("linux/arm") == "linux/arm/v7"
    assert canonical("arm64") == "linux/arm64"
    assert canonical("linux/arm64/v8") == "linux/arm64"
    plan = schedule([arm("pi", pinned=("linux/arm/v7",))], ["linux/arm", "linux/arm/v7"])
    assert [p.platform for p in plan.placements] == ["linux/arm/v7"]


def test_invalid_platform_is_an_input_error() -> None:
    with pytest.raises(InvalidPlatformError):
        schedule([amd("x86")], ["linux//amd64"])


def test_no_platforms_is_an_error() -> None:
    with pytest.raises(FarmError):
        schedule([amd("x86")], [])


def test_result_keeps_the_requested_order() -> None:
    plan = schedule([amd("x86"), arm("pi")], ["linux/arm64", "linux/amd64", "linux/arm/v7"])
    assert [p.platform for p in plan.placements] == ["linux/arm64", "linux/amd64", "linux/arm/v7"]
