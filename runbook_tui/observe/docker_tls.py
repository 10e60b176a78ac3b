"""A tcp:// Docker engine as the Docker CLI reaches it: TLS from DOCKER_TLS_VERIFY and
DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), the host from the settings.

Its own module so that docker-py is imported on the probe's thread when a look first needs it,
never by the first frame (observe/docker_look.py imports this inside make_client).
"""

from __future__ import annotations

import docker
import docker.utils


class _EngineCAOnly(docker.APIClient):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on many consoles) replace the
    session's CA on each request: the engine's own certificate would then never verify, while the
    Docker CLI, which ignores those variables, reaches the engine. This session never takes
    settings from the environment (requests.Session sets trust_env in its __init__: ignored)."""

    @property
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, _value: bool) -> None:
        pass


class TlsEngineClient(docker.DockerClient):
    def __init__(self, base_url: str, timeout: float) -> None:
        kwargs = docker.utils.kwargs_from_env()  # tls, as the CLI reads it; DOCKER_HOST is not ours
        kwargs["base_url"] = base_url
        # docker-py hands the timeout to requests, which takes any number of seconds; its stubs say int.
        self.api = _EngineCAOnly(timeout=timeout, **kwargs)  # type: ignore[arg-type]
