"""One error family for everything raytrain tells a user.

Each error carries a ``hint`` (what to change), and survives pickling so that an error
raised inside a Ray worker still reads well on the driver.
"""

from __future__ import annotations


class RaytrainError(Exception):
    """Base of every error raytrain reports to a user; ``exit_code`` 2 means bad input."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self):
        return (self.__class__, (self.message, self.hint))

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UserInputError(RaytrainError):
    """Something the user wrote or passed is wrong: a spec, a flag, a path."""

    exit_code = 2


class SpecError(UserInputError):
    """A job spec does not load or validate."""


class StorageError(UserInputError):
    """The storage path cannot be used."""


class RunExistsError(UserInputError):
    """The run already has checkpoints and the spec says not to resume."""


class CheckpointError(RaytrainError):
    """A checkpoint is missing, partial or corrupt."""


class TrainingFailed(RaytrainError):
    """The training run ended in an error after its retries."""


class AuthError(UserInputError):
    """The cluster refused the request: no token, or the wrong one."""


class ClusterError(RaytrainError):
    """A Ray cluster cannot be reached, started or stopped."""


class JobError(UserInputError):
    """A job id names no job, or a job cannot be submitted as asked."""


class WorkingDirError(UserInputError):
    """The project directory cannot be shipped as the job's working_dir."""


class MirrorError(UserInputError):
    """A RayCluster manifest or a --group/--scale flag cannot become a local mirror."""


class ManifestError(UserInputError):
    """A manifest path cannot be read, rendered or understood."""


class KubeError(RaytrainError):
    """The Kubernetes cluster failed or cannot be reached (exit code 1: the cluster's side)."""


class KubeConfigError(UserInputError):
    """No kubeconfig, or the context asked for is not in it."""


class KubeForbidden(UserInputError):
    """The API server refused a verb on a resource (403): the user needs a Role."""


class KubeNotFound(UserInputError):
    """A named object (RayCluster, RayJob) does not exist in the namespace."""


class KubeRayMissing(KubeError):
    """The API server does not serve ray.io/v1: the KubeRay operator is not installed."""


class KubeUnreachable(KubeError):
    """The API server did not answer after retries."""


class ClusterNotReady(KubeError):
    """A RayCluster did not become ready in time, or reported a failure."""


class RayJobFailed(KubeError):
    """A RayJob ended in a failed state."""
