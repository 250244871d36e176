"""Run one process in a rootfs: OCI runtime spec → crun/runc; binfmt emulation probe.

The sandbox knows nothing about Dockerfiles: the solver describes a step as a
:class:`RunSpec` (rootfs, argv, env, cwd, user, mounts, network, platform) and
gets back an exit code and the tail of the output.
"""

from anyarch.sandbox.binfmt import (
    COMMON_PLATFORMS,
    EmulationStatus,
    doctor_report,
    probe,
    require,
)
from anyarch.sandbox.runtime import RunResult, Runtime, execute, find_runtime, run
from anyarch.sandbox.spec import Mount, RunSpec, oci_runtime_config
from anyarch.sandbox.users import ExecUser, resolve_user

__all__ = [
    "COMMON_PLATFORMS",
    "EmulationStatus",
    "ExecUser",
    "Mount",
    "RunResult",
    "RunSpec",
    "Runtime",
    "doctor_report",
    "execute",
    "find_runtime",
    "oci_runtime_config",
    "probe",
    "require",
    "resolve_user",
    "run",
]
