"""The settings model: every section a pipeline's settings.yaml may hold.

Each dataclass here is one block of the YAML. Defaults are what a laptop run wants;
the production blocks (kubeflow, vertex, dataflow, image) are filled by the `dev`,
`test`, `staging` and `prod` environments of a pipeline's settings.yaml.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from framework.settings.schema import SAFE_IMAGE, SAFE_NAME, SAFE_TAG, safe


def path_field(default: Any = dataclasses.MISSING, help: str = "") -> Any:
    """A filesystem or gs:// location; relative paths resolve against the project root.

    Without a default the key is required."""
    return field(default=default, metadata={"path": True, "help": help})


@dataclass
class PipelineSection:
    name: str = safe(SAFE_NAME, help="a lower-case name of letters, digits, '-' and '_'")
    # Where CsvExampleGen reads: a folder, gs://..., or package://<pkg>/<path> for data
    # that ships inside an installed package.
    data_root: str = path_field()
    pipeline_root: str = path_field()
    serving_dir: str = path_field()
    # Input pattern below data_root; "{SPAN}" in it makes CsvExampleGen read spans.
    input_pattern: str = "*"
    # With {SPAN}: train on the newest N spans (each run ingests the newest one);
    # 0 = no window, Transform and Trainer take only what this run's ExampleGen read.
    span_window: int = 0
    # Local CSV inputs are checked before a run starts; a longer line is rejected as corrupt.
    max_line_bytes: int = 65536


@dataclass
class MysqlSslSection:
    """TLS to the server (Cloud SQL with SSL enforced, or any server that asks for it)."""

    ca: Optional[str] = path_field(None)  # the server's CA certificate (PEM)
    cert: Optional[str] = path_field(None)  # client certificate, for mutual TLS
    key: Optional[str] = path_field(None)  # client key
    verify_server_cert: bool = True


@dataclass
class MysqlSection:
    """ML-Metadata on MySQL, MariaDB or Cloud SQL (directly, or through the Cloud SQL Auth
    Proxy on 127.0.0.1)."""

    host: str
    database: str
    port: int = 3306
    user: str = "root"
    # Name of the environment variable holding the password; never the password itself.
    password_env: Optional[str] = None
    ssl: Optional[MysqlSslSection] = None


@dataclass
class MetadataSection:
    sqlite_path: Optional[str] = path_field(None)
    mysql: Optional[MysqlSection] = None


@dataclass
class PortableSection:
    """Beam's portability API: a job service (a Flink or Spark cluster's, or Beam's own) and
    SDK workers that run the pipeline's Python code."""

    job_endpoint: Optional[str] = None  # host:port of the job service (PortableRunner)
    artifact_endpoint: Optional[str] = None  # host:port; default: the job service's own
    # Where SDK workers run. DOCKER: a container of `environment_config` (default: the
    # pipeline image, which must be built on Beam's SDK image); EXTERNAL: a worker pool at
    # `environment_config` (host:port); PROCESS: `environment_config` is JSON
    # {"command": ...}; LOOPBACK: in this process (a job service on this machine only).
    environment_type: Literal["DOCKER", "EXTERNAL", "PROCESS", "LOOPBACK"] = "DOCKER"
    environment_config: Optional[str] = None
    sdk_worker_parallelism: int = 0  # SDK workers per worker host; 0: Beam's choice
    # Start Beam's own job service and an SDK worker pool on this machine for each run, in
    # place of a cluster (environment EXTERNAL): the Job and Fn APIs that Flink's and
    # Spark's job servers serve, exercised with `sdk_worker_parallelism` workers.
    local_services: bool = False
    # With local_services: run the worker pool in this image (e.g. the pipeline image), on
    # the host network, with the pipeline root and data mounted; default: a local process.
    worker_pool_image: Optional[str] = None


@dataclass
class FlinkSection:
    master: Optional[str] = None  # host:port of the JobManager's REST API, or [local]/[auto]
    version: Optional[str] = None  # the cluster's Flink version, e.g. "1.18"
    parallelism: int = 0  # 0: the cluster's default


@dataclass
class SparkSection:
    master_url: Optional[str] = None  # spark://host:7077, or local[N]


PORTABLE_RUNNERS = ("PortableRunner", "FlinkRunner", "SparkRunner")


@dataclass
class BeamSection:
    runner: Literal["DirectRunner", "DataflowRunner", "PortableRunner", "FlinkRunner",
                    "SparkRunner"] = "DirectRunner"
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"
    # 0 lets Beam pick (one per core); only used by multi_* modes.
    direct_num_workers: int = 0
    portable: PortableSection = field(default_factory=PortableSection)
    flink: FlinkSection = field(default_factory=FlinkSection)
    spark: SparkSection = field(default_factory=SparkSection)
    extra_args: list[str] = field(default_factory=list)


@dataclass
class DataflowSection:
    project: Optional[str] = None
    region: Optional[str] = None
    temp_location: Optional[str] = None
    staging_location: Optional[str] = None
    machine_type: Optional[str] = None
    max_num_workers: Optional[int] = None
    autoscaling_algorithm: Literal["THROUGHPUT_BASED", "NONE"] = "THROUGHPUT_BASED"
    # How user code reaches the workers: the pipeline image as SDK container, or a package.
    sdk_container_image: Optional[str] = None
    setup_file: Optional[str] = None
    service_account_email: Optional[str] = None


@dataclass
class TunerSection:
    enabled: bool = False
    max_trials: int = 3
    train_steps: int = 50


@dataclass
class TrainingSection:
    train_steps: int = 1000
    eval_steps: int = 150
    batch_size: int = 64
    learning_rate: float = 0.001
    hidden_units: list[int] = field(default_factory=lambda: [32, 16])
    tuner: TunerSection = field(default_factory=TunerSection)


@dataclass
class EvaluationSection:
    metric: str = "binary_accuracy"
    # The candidate is blessed only when metric >= lower_bound ...
    lower_bound: float = 0.6
    # ... and metric - baseline >= -max_regression (when a blessed baseline exists).
    max_regression: float = 0.01
    # Compare with the latest blessed model. Open-source Kubeflow cannot run the resolver
    # that finds it: set false in environments deployed there.
    compare_to_blessed: bool = True
    slices: list[str] = field(default_factory=lambda: ["trip_start_hour"])


@dataclass
class ImageSection:
    repository: Optional[str] = safe(SAFE_IMAGE, default=None, help="an image repository name")
    tag: Optional[str] = safe(SAFE_TAG, default=None, help="a tag of letters, digits, '.', '_', '-'")
    # Where the project lives inside the image (user modules are read from here).
    workdir: str = "/app"
    base_image: str = safe(SAFE_IMAGE, default="python:3.11-slim", help="an image reference")
    # Docker API the container runner and `ci build` use (default: $DOCKER_HOST, else the
    # engine's default socket), e.g. unix:///tmp/podman.sock.
    docker_host: Optional[str] = None
    # Extra CA bundle (PEM) for pip inside image builds behind a TLS-inspecting proxy.
    ca_bundle: Optional[str] = path_field(None)


@dataclass
class KubeflowSection:
    host: Optional[str] = None
    namespace: Optional[str] = None
    experiment: str = "default"
    # Name of the variable holding a bearer token; never the token itself.
    token_env: str = "KFP_TOKEN"
    # Runtime parameters the pipeline declares, with this environment's values.
    parameters: dict[str, str] = field(default_factory=dict)
    # The pipeline's name on the server (default: pipeline.name); versions are release tags.
    pipeline_name: Optional[str] = None
    # Kubernetes service account the run's pods use (default: the server's).
    service_account: Optional[str] = None


@dataclass
class VertexSection:
    project: Optional[str] = None
    region: Optional[str] = None
    service_account: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    enable_caching: bool = True
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class RollbackPolicySection:
    """Automatic rollback: judged over the canary's last `window` requests."""

    enabled: bool = True
    window: int = 50
    # Share of server errors (5xx) above which the canary is rolled back.
    max_error_rate: float = 0.05
    # p99 latency in milliseconds above which the canary is rolled back.
    max_p99_ms: float = 1000.0


@dataclass
class KServeTargetSection:
    # InferenceService name and namespace; the name defaults to the pipeline name.
    name: Optional[str] = None
    namespace: str = "default"
    # Where a version's model lives for the cluster; {serving_dir} and {version} are filled.
    storage_uri: str = "{serving_dir}/{version}"
    service_account: Optional[str] = None
    # Where `mlops release` writes the manifest (default: beside the registry state file).
    manifest_path: Optional[str] = path_field(None)


@dataclass
class VertexEndpointSection:
    # Endpoint ID or full resource name; project and region come from the `vertex` section.
    endpoint: Optional[str] = None
    serving_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    machine_type: str = "n1-standard-2"
    min_replicas: int = 1
    max_replicas: int = 1


@dataclass
class ReleaseSection:
    # Registry state (JSON); default: "<serving_dir>.release.json", beside the serving folder.
    state_path: Optional[str] = path_field(None)
    # Where `mlops release` sends traffic changes: the local server only, KServe or Vertex.
    target: Literal["local", "kserve", "vertex"] = "local"
    # Model name in REST paths (/v1/models/<name>); default: the pipeline name.
    model_name: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8501
    threads: int = 8
    max_request_bytes: int = 1048576
    # A request header whose value pins a caller to one version (e.g. X-Session-Id).
    sticky_header: Optional[str] = None
    rollback: RollbackPolicySection = field(default_factory=RollbackPolicySection)
    kserve: KServeTargetSection = field(default_factory=KServeTargetSection)
    vertex_endpoint: VertexEndpointSection = field(default_factory=VertexEndpointSection)


@dataclass
class DriftSection:
    enabled: bool = True
    # TFDV comparators: L-infinity distance for categorical (string) features,
    # Jensen-Shannon divergence for numeric ones; a feature drifts above its threshold.
    default_threshold: float = 0.2
    thresholds: dict[str, float] = field(default_factory=dict)
    # Features compared; empty = every feature of the schema except the label.
    features: list[str] = field(default_factory=list)


@dataclass
class DecaySection:
    enabled: bool = False
    # Newly labelled rows (a CSV file, a folder of CSVs, or a span pattern under data_root
    # when it contains {SPAN}): the serving model is scored on them.
    labelled_data: Optional[str] = path_field(None)
    metric: Literal["binary_accuracy", "auc"] = "binary_accuracy"
    # Fires when (evaluation metric - metric on labelled data) > max_drop.
    max_drop: float = 0.05


@dataclass
class CtSection:
    """Continuous training: which triggers start the pipeline (see README, "Continuous training")."""

    # A 5-field cron expression (minute hour day-of-month month day-of-week), or null.
    schedule: Optional[str] = None
    new_data: bool = True
    drift: DriftSection = field(default_factory=DriftSection)
    decay: DecaySection = field(default_factory=DecaySection)
    # Decision history and the watch lock; default: <pipeline_root>/ct. A folder or gs://
    # (shared by every host that runs CT for this pipeline).
    state_dir: Optional[str] = path_field(None)
    # On gs://, how long the CT lock lasts unless renewed: a holder that dies blocks the
    # next check for at most this long (it renews every third of it while alive).
    lock_lease_seconds: int = 600


@dataclass
class CiSection:
    # Where `mlops ci compile` stores the compiled pipeline and the build manifest, under
    # <artifact_store>/<pipeline>/<commit>/ (a folder or gs://).
    artifact_store: str = path_field(".mlops/ci/artifacts")
    # `mlops ci deploy` also starts a run and waits for it: deploy as an integration test.
    run_after_deploy: bool = False
    wait_timeout_minutes: int = 60


@dataclass
class Settings:
    pipeline: PipelineSection
    runner: Literal["local", "container", "kubeflow", "vertex"] = "local"
    enable_cache: bool = True
    metadata: MetadataSection = field(default_factory=MetadataSection)
    beam: BeamSection = field(default_factory=BeamSection)
    dataflow: DataflowSection = field(default_factory=DataflowSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    image: ImageSection = field(default_factory=ImageSection)
    kubeflow: KubeflowSection = field(default_factory=KubeflowSection)
    vertex: VertexSection = field(default_factory=VertexSection)
    ci: CiSection = field(default_factory=CiSection)
    ct: CtSection = field(default_factory=CtSection)
    release: ReleaseSection = field(default_factory=ReleaseSection)
    # Filled by the loader, not by YAML.
    env: str = field(default="local", metadata={"internal": True})
    source: str = field(default="", metadata={"internal": True})

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)
