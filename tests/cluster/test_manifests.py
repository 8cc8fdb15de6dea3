"""The deployment definitions in cluster/deploy/ against the schemas that would judge them.

* ``ray-cluster.yaml`` (``ray up``) against the JSON schema inside the installed ray wheel
  (``ray/autoscaler/ray-schema.json``), which ``ray up`` itself applies.
* The KubeRay manifests against the ``openAPIV3Schema`` of their CRD (ray.io/v1) from
  tests/data/kuberay-crds/ (provenance in its README), made as strict as ``kubectl apply``'s
  default field validation: an unknown field is an error, not silently dropped.
* What the schemas cannot see: the commands and entrypoints parse with our own CLIs, the
  Serve config with Serve's own schema, and no secret is written into a manifest.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "cluster" / "deploy"
CRDS = REPO / "tests" / "data" / "kuberay-crds"
MANIFESTS = {"RayCluster": "raycluster.yaml", "RayService": "rayservice.yaml", "RayJob": "rayjob.yaml"}
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml.gz", "RayService": "ray.io_rayservices.yaml.gz",
             "RayJob": "ray.io_rayjobs.yaml.gz"}


def _strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation.

    An object schema that lists ``properties`` and neither ``additionalProperties`` nor
    ``x-kubernetes-preserve-unknown-fields`` admits no other field; ``x-kubernetes-int-or-string``
    means integer or string.
    """
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out and "type" not in out:
        out["type"] = ["integer", "string"]
    return out


@functools.cache
def _crd_schema(kind: str) -> dict[str, Any]:
    with gzip.open(CRDS / CRD_FILES[kind], "rt") as fh:
        crd = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # 1 MB of YAML: libyaml
    assert crd["spec"]["names"]["kind"] == kind
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return _strict(v1["schema"]["openAPIV3Schema"])


def _load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / "kuberay" / name).read_text())


def _validate(kind: str, manifest: Any) -> None:
    jsonschema.Draft7Validator(_crd_schema(kind)).validate(manifest)


def _ray_schema() -> dict[str, Any]:
    import ray  # the schema ships inside the ray wheel

    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


# --- ray up -------------------------------------------------------------------------------------------


def _ray_up() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())


def test_ray_up_yaml_matches_the_schema_in_the_ray_wheel() -> None:
    config = _ray_up()
    jsonschema.Draft7Validator(_ray_schema()).validate(config)
    workers = config["available_node_types"]["worker"]
    assert workers["min_workers"] < workers["max_workers"] <= config["max_workers"]  # it autoscales
    assert config["head_node_type"] in config["available_node_types"]


def test_ray_up_schema_refuses_a_misspelt_field() -> None:
    config = _ray_up()
    config["max_worker"] = config.pop("max_workers")
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        jsonschema.Draft7Validator(_ray_schema()).validate(config)


def _command_argv(command: str) -> list[str]:
    """A start command's argv after the raytrader executable (VAR=value prefixes dropped)."""
    words = shlex.split(command)
    start = next(i for i, w in enumerate(words) if w.endswith("/raytrader") or w == "raytrader")
    return words[start + 1:]


def test_ray_up_commands_start_raytrader_with_token_auth_and_redis() -> None:
    from cluster.cli import build_parser

    config = _ray_up()
    text = (DEPLOY / "ray-cluster.yaml").read_text()
    assert "RAY_AUTH_MODE=disabled" not in text  # token authentication stays on
    assert "~/.ray/auth_token" in config["file_mounts"]  # one token for every node
    head = [_command_argv(c) for c in config["head_start_ray_commands"]]
    worker = [_command_argv(c) for c in config["worker_start_ray_commands"]]
    assert head[-1] == ["up"] and "RAYTRADER_CLUSTER__AUTOSCALING_CONFIG=" in config["head_start_ray_commands"][-1]
    assert "RAYTRADER_REDIS__PASSWORD_FILE=" in config["head_start_ray_commands"][-1]
    # GCS fault tolerance on the head; the workers wait long enough for `raytrader up` to restart a dead head
    assert "RAYTRADER_CLUSTER__GCS_FAULT_TOLERANCE=true" in config["head_start_ray_commands"][-1]
    assert "RAY_gcs_rpc_server_reconnect_timeout_s=300" in config["worker_start_ray_commands"][-1]
    args = build_parser().parse_args(worker[-1])  # our own CLI accepts the worker's join command
    assert args.head_address == "$RAY_HEAD_IP:6379"
    assert args.redis_password_file == "~/.raytrader-secrets/redis-password"
    assert args.redis_port == 6380
    assert config["file_mounts"]["~/.raytrader-secrets/redis-password"]


# --- KubeRay ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_kuberay_manifest_matches_its_crd(kind: str) -> None:
    manifest = _load(MANIFESTS[kind])
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == kind
    _validate(kind, manifest)


def test_crd_validation_refuses_a_misspelt_or_mistyped_field() -> None:
    good = _load("raycluster.yaml")
    typo = copy.deepcopy(good)
    typo["spec"]["headGroupSpec"]["rayStartParam"] = typo["spec"]["headGroupSpec"].pop("rayStartParams")
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        _validate("RayCluster", typo)
    wrong = copy.deepcopy(good)
    wrong["spec"]["workerGroupSpecs"][0]["maxReplicas"] = "eight"
    with pytest.raises(jsonschema.ValidationError, match="eight"):
        _validate("RayCluster", wrong)
    no_backend = copy.deepcopy(good)
    no_backend["spec"]["gcsFaultToleranceOptions"]["backend"] = "etcd"
    with pytest.raises(jsonschema.ValidationError, match="etcd"):
        _validate("RayCluster", no_backend)


def _cluster_specs() -> list[dict[str, Any]]:
    return [_load("raycluster.yaml")["spec"], _load("rayservice.yaml")["spec"]["rayClusterConfig"],
            _load("rayjob.yaml")["spec"]["rayClusterSpec"]]


def test_every_cluster_keeps_token_auth_and_the_raytrader_image() -> None:
    for spec in _cluster_specs():
        assert spec["authOptions"]["mode"] == "token"
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        for group in groups:
            for container in group["template"]["spec"]["containers"]:
                assert container["image"] == "raytrader:0.1.0"
    assert "raytrader" in (DEPLOY / "Dockerfile").read_text()


def test_gcs_fault_tolerance_takes_the_redis_password_from_the_secret() -> None:
    secret = yaml.safe_load((DEPLOY / "kuberay" / "redis-secret.yaml").read_text())
    assert secret["kind"] == "Secret"
    with_ft = [s for s in _cluster_specs() if "gcsFaultToleranceOptions" in s]
    assert len(with_ft) == 2  # the long-running cluster and the API's
    for spec in with_ft:
        ft = spec["gcsFaultToleranceOptions"]
        assert "value" not in ft["redisPassword"]  # never a literal password
        ref = ft["redisPassword"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
        # the journal's REDIS_URL is composed from the same Secret, not written out
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            env = {e["name"]: e for e in group["template"]["spec"]["containers"][0]["env"]}
            assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": ref["name"], "key": ref["key"]}
            assert "$(REDIS_PASSWORD)" in env["REDIS_URL"]["value"]


def test_rayservice_serve_config_is_a_valid_serve_config_of_our_api() -> None:
    from ray.serve.schema import ServeDeploySchema

    serve = yaml.safe_load(_load("rayservice.yaml")["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve)  # Serve's own schema (what `serve deploy` checks)
    local = yaml.safe_load((REPO / "cluster" / "serve.yaml").read_text())
    (app,), (local_app,) = serve["applications"], local["applications"]
    assert app["import_path"] == local_app["import_path"]
    assert [d["name"] for d in app["deployments"]] == [d["name"] for d in local_app["deployments"]]
    bad = copy.deepcopy(serve)
    bad["applications"][0]["deployments"][0]["num_replicas"] = "many"
    with pytest.raises(ValueError, match="num_replicas"):  # pydantic's ValidationError is a ValueError
        ServeDeploySchema.model_validate(bad)


def test_rayjob_entrypoint_is_a_valid_sweep() -> None:
    from jobs.sweep import add_sweep_arguments, plan_sweep, request_from_args
    from raytrader.cli import CommandParser

    argv = shlex.split(_load("rayjob.yaml")["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", "jobs.sweep"]
    parser = CommandParser(prog="jobs.sweep")
    add_sweep_arguments(parser)
    parser.add_argument("--json", action="store_true")  # added by jobs._entry.run_job_main
    plan = plan_sweep(request_from_args(parser.parse_args(argv[3:])))
    assert plan.params.shape[0] == 40 * 39 // 2  # 40 values per axis, fast < slow: the whole grid is planned
