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
    """What the pipeline is called, what it reads and where it writes."""

    # The pipeline's folder name under pipelines/ (runners load its code by this name); also
    # the TFX pipeline name and the default model, InferenceService and KFP pipeline name.
    name: str = safe(SAFE_NAME, help="a lower-case name of letters, digits, '-' and '_'")
    # Where CsvExampleGen reads: a folder, gs://..., or package://<pkg>/<path> for data
    # that ships inside an installed package.
    data_root: str = path_field()
    # Where TFX writes every component's artifacts (a folder or gs://); run logs go to
    # <pipeline_root>/logs when it is local, and CT state to <pipeline_root>/ct by default.
    pipeline_root: str = path_field()
    # Where the Pusher puts each blessed model, as <serving_dir>/<version>/ (version: a Unix
    # time); the release registry, `mlops serve`, KServe and Vertex take versions from here.
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
    # Check the server's certificate (against `ca`) and that it names `host`; false
    # encrypts the connection without checking who answers.
    verify_server_cert: bool = True


@dataclass
class MysqlSection:
    """ML-Metadata on MySQL, MariaDB or Cloud SQL (directly, or through the Cloud SQL Auth
    Proxy on 127.0.0.1)."""

    # The server's host name or address (127.0.0.1 for a Cloud SQL Auth Proxy here).
    host: str
    # The database that holds the ML-Metadata tables.
    database: str
    # The server's TCP port (the proxy's port when going through the Cloud SQL Auth Proxy).
    port: int = 3306
    # The MySQL user to connect as.
    user: str = "root"
    # Name of the environment variable holding the password; never the password itself.
    password_env: Optional[str] = None
    ssl: Optional[MysqlSslSection] = None


@dataclass
class MetadataSection:
    """ML-Metadata for the local and container runners, CT triggers and lineage: SQLite,
    or MySQL when `mysql` is set (Kubeflow and Vertex AI keep their own)."""

    # SQLite file of the store, created if missing; used when `mysql` is null (one of the
    # two must be set).
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
    # What environment_type needs: the worker image (DOCKER; null: image.repository:image.tag),
    # the worker pool's host:port (EXTERNAL) or the JSON command (PROCESS).
    environment_config: Optional[str] = None
    # SDK worker processes per worker host; 0: not passed, so Beam's default of 1 applies.
    sdk_worker_parallelism: int = 0
    # Seconds Beam waits on the job service (--job_server_timeout). Beam also puts this
    # deadline on the job's state and message streams, so it bounds how long one
    # component's Beam job may run: Beam's own default (60) fails any longer job with
    # DEADLINE_EXCEEDED, hence a day here.
    job_server_timeout: int = 86400
    # Start Beam's own job service and an SDK worker pool on this machine for each run, in
    # place of a cluster (environment EXTERNAL): the Job and Fn APIs that Flink's and
    # Spark's job servers serve, exercised with `sdk_worker_parallelism` workers.
    # Only with beam.runner PortableRunner; it replaces job_endpoint and environment_*.
    local_services: bool = False
    # With local_services: run the worker pool in this image (e.g. the pipeline image), on
    # the host network, with the pipeline root and data mounted; default: a local process.
    worker_pool_image: Optional[str] = None


@dataclass
class FlinkSection:
    """Options for beam.runner FlinkRunner (the SDK workers are set in beam.portable)."""

    # host:port of the JobManager's REST API, or [local]/[auto]; null: Beam's [auto].
    master: Optional[str] = None
    # The cluster's Flink version, e.g. "1.18"; null: the newest one this Beam supports.
    version: Optional[str] = None
    parallelism: int = 0  # 0: the cluster's default


@dataclass
class SparkSection:
    """Options for beam.runner SparkRunner (the SDK workers are set in beam.portable)."""

    # spark://host:7077, or local[N]; null: Beam's default, local[4].
    master_url: Optional[str] = None


PORTABLE_RUNNERS = ("PortableRunner", "FlinkRunner", "SparkRunner")


@dataclass
class BeamSection:
    """Apache Beam, which runs the data-parallel components (ExampleGen, StatisticsGen,
    Transform, Evaluator)."""

    # DirectRunner: inside each component's own process or container; DataflowRunner: the
    # `dataflow` block; PortableRunner, FlinkRunner, SparkRunner: `portable`, `flink`, `spark`.
    runner: Literal["DirectRunner", "DataflowRunner", "PortableRunner", "FlinkRunner",
                    "SparkRunner"] = "DirectRunner"
    # How DirectRunner runs a stage: in_memory (one worker in the component's process),
    # multi_threading (worker threads) or multi_processing (worker subprocesses).
    # Which to pick, from the scale curve on the Performance page: in_memory, the default,
    # is the fastest and the smallest at every size the three were measured at on one
    # host (15k to 1.5M rows, an AMD EPYC host); multi_processing and the portable runner
    # load TensorFlow once per worker and were slower and larger at each size. With
    # ExampleGen's bounded shuffle the taxi pipeline peaked at 1.3 GB at 1.5M rows in 294 s
    # (benchmarks/results/2026-12-02-c078e52), and on an Intel Xeon host at 1.6 GB at both
    # 5M and 10M rows, 10M in 4,401 s at the same rows per second as 1.5M
    # (2026-12-03-c8ed244): on one machine time, not memory, is the limit; for more, a
    # cluster (DataflowRunner, FlinkRunner, SparkRunner). On that Xeon host multi_processing
    # with 2 workers took 514 s and 2.9 GB at 1.5M rows, in_memory 453 to 472 s and 1.3 GB
    # (2026-12-03-d26b40c against 2026-12-03-6edcbfd and 2026-12-03-6edcbfd-2).
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"
    # 0 lets Beam pick (one per core); only used by multi_* modes.
    direct_num_workers: int = 0
    portable: PortableSection = field(default_factory=PortableSection)
    flink: FlinkSection = field(default_factory=FlinkSection)
    spark: SparkSection = field(default_factory=SparkSection)
    # More Beam arguments, appended after the ones made from these settings (any runner),
    # e.g. ["--num_workers=2"].
    extra_args: list[str] = field(default_factory=list)


@dataclass
class DataflowSection:
    """DataflowRunner options, used when beam.runner is DataflowRunner; each one that is set
    is passed as the Beam option of the same name."""

    # The Google Cloud project the Dataflow jobs run in (required).
    project: Optional[str] = None
    # The Dataflow region, e.g. europe-west4 (required).
    region: Optional[str] = None
    # gs:// folder for Dataflow's temporary files (the pre-flight check requires it).
    temp_location: Optional[str] = None
    # gs:// folder where the job's files are staged; null: temp_location.
    staging_location: Optional[str] = None
    # Worker VM type, e.g. n1-standard-4; null: Dataflow's default.
    machine_type: Optional[str] = None
    # Upper bound on the number of workers autoscaling may start; null: Dataflow's default.
    max_num_workers: Optional[int] = None
    # THROUGHPUT_BASED: Dataflow adds and removes workers with the load; NONE: a fixed number.
    autoscaling_algorithm: Literal["THROUGHPUT_BASED", "NONE"] = "THROUGHPUT_BASED"
    # How user code reaches the workers: the pipeline image as SDK container, or a package.
    # Null: image.repository:image.tag, unless setup_file is set; with an image, Runner v2.
    sdk_container_image: Optional[str] = None
    # A setup.py that packages the user code for the workers (not resolved against the
    # project root); with it and no sdk_container_image, no image is passed.
    setup_file: Optional[str] = None
    # Service account the workers run as; null: the project's Compute Engine default.
    service_account_email: Optional[str] = None


@dataclass
class TunerSection:
    """Hyperparameter search with TFX's Tuner before the Trainer."""

    # Add a Tuner: a random search over depth, width and learning rate (taxi); its best
    # values replace training.hidden_units and training.learning_rate.
    enabled: bool = False
    # How many hyperparameter combinations the search tries.
    max_trials: int = 3
    # Training steps of each trial (validated with training.eval_steps batches).
    train_steps: int = 50


@dataclass
class TrainingSection:
    """The Trainer's settings; the model values reach the model module in custom_config."""

    # Training steps (batches of batch_size) the Trainer runs.
    train_steps: int = 1000
    # Batches of the eval split scored after training (the Tuner ranks trials by it); the
    # Evaluator, which blesses, reads the whole eval split.
    eval_steps: int = 150
    # Rows per training and validation batch.
    batch_size: int = 64
    # The Adam optimizer's learning rate.
    learning_rate: float = 0.001
    # Units of each hidden layer of the model's deep part, in order.
    hidden_units: list[int] = field(default_factory=lambda: [32, 16])
    tuner: TunerSection = field(default_factory=TunerSection)


@dataclass
class EvaluationSection:
    """Blessing: the Evaluator (TFMA) judges the trained model before the Pusher pushes it."""

    # The metric that decides blessing; no default, each pipeline names its own. Which
    # ones fit depends on the model's task: binary_accuracy, auc, precision, recall
    # (binary); sparse_categorical_accuracy, sparse_categorical_crossentropy (multi-class);
    # root_mean_squared_error, mean_absolute_error, mean_squared_error (regression). Any
    # other is an error when the pipeline is built.
    metric: Optional[str] = None
    # The candidate is blessed only when metric >= lower_bound ... (null: no lower bound)
    lower_bound: Optional[float] = None
    # ... and metric <= upper_bound (null: none; the bound that fits metrics where lower is
    # better, such as errors) ...
    upper_bound: Optional[float] = None
    # ... and it is at most max_regression worse than the blessed baseline, when one exists
    # (metric - baseline >= -max_regression; for lower-is-better metrics, <= +max_regression).
    max_regression: float = 0.01
    # Compare with the latest blessed model. Open-source Kubeflow cannot run the resolver
    # that finds it: set false in environments deployed there.
    compare_to_blessed: bool = True
    # Columns to slice metrics by (one slice per value), besides the overall metrics;
    # default: overall only. A column not in the pipeline's schema is an error.
    slices: list[str] = field(default_factory=list)


@dataclass
class ImageSection:
    """The pipeline image (docker/Dockerfile): what the container runner, Kubeflow, Vertex AI
    and Beam workers run."""

    # Where the image is pushed and pulled, without a tag; null: localhost/portable-mlops
    # for local builds (Kubeflow, Vertex AI and `mlops ci build` need one).
    repository: Optional[str] = safe(SAFE_IMAGE, default=None, help="an image repository name")
    # Image tag, also the version name of a deploy, when no --tag or --manifest is given;
    # never `latest` for Kubeflow or Vertex AI (local builds are tagged `local`).
    tag: Optional[str] = safe(SAFE_TAG, default=None, help="a tag of letters, digits, '.', '_', '-'")
    # Where the project lives inside the image (user modules are read from here).
    # docker/Dockerfile puts it at /app: change both together.
    workdir: str = "/app"
    # The image the Dockerfile builds on (build argument BASE_IMAGE): Python 3.11 with venv.
    base_image: str = safe(SAFE_IMAGE, default="python:3.11-slim", help="an image reference")
    # Docker API the container runner and `ci build` use (default: $DOCKER_HOST, else the
    # engine's default socket), e.g. unix:///tmp/podman.sock.
    docker_host: Optional[str] = None
    # Extra CA bundle (PEM) for pip inside image builds behind a TLS-inspecting proxy.
    ca_bundle: Optional[str] = path_field(None)


@dataclass
class KubeflowSection:
    """Kubeflow Pipelines 2.x: where the compiled pipeline is uploaded, run and scheduled."""

    # URL of the Kubeflow Pipelines API, e.g. https://kfp.example.com (required to deploy
    # or schedule there).
    host: Optional[str] = None
    # Kubernetes namespace (multi-user profile) of experiments and runs; null: none is sent
    # (single-user Kubeflow).
    namespace: Optional[str] = None
    # The experiment runs and CT recurring runs are filed under (created if missing).
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
    """Vertex AI Pipelines: where pipeline jobs and CT schedules run (also release.target
    vertex's project and region)."""

    # The Google Cloud project (required for Vertex AI).
    project: Optional[str] = None
    # The Vertex AI region, e.g. europe-west4 (required for Vertex AI).
    region: Optional[str] = None
    # Service account pipeline jobs and schedules run as; null: Vertex AI's default.
    service_account: Optional[str] = None
    # Labels of each PipelineJob; `pipeline` is added unless set, then `version` on a
    # deploy and `trigger: schedule` on a CT schedule.
    labels: dict[str, str] = field(default_factory=dict)
    # Vertex AI's caching for every task of a job or schedule; it overrides the pipeline's
    # own (top-level enable_cache).
    enable_caching: bool = True
    # Runtime parameters the pipeline declares, with this environment's values.
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class RollbackPolicySection:
    """Automatic rollback: judged over the canary's last `window` requests (and, for CPU,
    memory and drift, production's last `window` requests since the canary went out)."""

    # `mlops serve` takes the canary out by itself (and records it in the registry) when a
    # limit below is crossed.
    enabled: bool = True
    # Canary requests judged together; no verdict before that many have been served (the
    # CPU, memory and drift limits also wait for that many production requests).
    window: int = 50
    # Share of server errors (5xx) above which the canary is rolled back.
    max_error_rate: float = 0.05
    # p99 latency in milliseconds above which the canary is rolled back.
    max_p99_ms: float = 1000.0
    # Canary CPU per request (its model call's CPU, mean since the canary went out, of the
    # requests not batched with others) above production's by this factor rolls it back;
    # null or 0: off.
    max_cpu_ratio: Optional[float] = 2.0
    # Resident memory budget (MB) of the canary: its load cost (the process's RSS growth
    # while it loaded), or the RSS growth since it began taking traffic, above this rolls it
    # back; null or 0: off.
    max_memory_growth_mb: Optional[float] = 1024.0
    # Jensen-Shannon distance (base 2, 0 = same, 1 = disjoint) between the canary's and
    # production's histograms of prediction scores above which the canary is rolled back;
    # null or 0: off.
    max_prediction_drift: Optional[float] = 0.3
    # Prediction scores (one per example) of each version that the drift compares: the
    # latest this many, and none is judged before both have them (fewer are noisy).
    drift_examples: int = 500


@dataclass
class KServeTargetSection:
    """The KServe InferenceService manifest written with release.target kserve."""

    # InferenceService name and namespace; the name defaults to the pipeline name.
    name: Optional[str] = None
    # The InferenceService's Kubernetes namespace.
    namespace: str = "default"
    # Where a version's model lives for the cluster; {serving_dir} and {version} are filled.
    storage_uri: str = "{serving_dir}/{version}"
    # The predictor's Kubernetes service account (e.g. one that may read storage_uri);
    # null: the namespace's default.
    service_account: Optional[str] = None
    # Where `mlops release` writes the manifest (default: beside the registry state file).
    manifest_path: Optional[str] = path_field(None)


@dataclass
class VertexEndpointSection:
    """The Vertex AI endpoint that release.target vertex deploys versions to."""

    # Endpoint ID or full resource name; project and region come from the `vertex` section.
    endpoint: Optional[str] = None
    # Serving container each version's Vertex Model is uploaded with (at its first release).
    # Null: Vertex AI's prebuilt TensorFlow CPU image for the TensorFlow that trains the
    # model, read from the installed tensorflow (the pipeline image has the same): 2.16 gives
    # us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest. A prebuilt TensorFlow
    # image of another minor version is a pre-flight error (rule serving-image-tf).
    serving_image: Optional[str] = None
    # Machine type of each deployed version's replicas.
    machine_type: str = "n1-standard-2"
    # Fewest replicas of each deployed version (set when the version is deployed).
    min_replicas: int = 1
    # Most replicas of each deployed version, for autoscaling (set when it is deployed).
    max_replicas: int = 1


@dataclass
class BatchingSection:
    """Dynamic batching in `mlops serve`: predictions that arrive together share one model
    call, as TensorFlow Serving's batching does (REST and gRPC alike)."""

    # Batch requests of the same version and signature; false: one model call per request.
    enabled: bool = True
    # Most examples in one model call; a request with more runs alone.
    max_batch_size: int = 32
    # Milliseconds a batch waits for requests still being read (already inside the server);
    # it never waits for one that has not come in, and while the model is busy the next
    # batch fills.
    max_wait_ms: float = 2.0


@dataclass
class AbTestSection:
    """The A/B test on real outcomes: `mlops serve` keeps each answered prediction by request
    id until its true label arrives (POST /v1/models/<name>/feedback, `mlops release
    feedback`), and `mlops release compare` judges the canary against production on them."""

    # Keep predictions for outcome feedback in `mlops serve`; false: nothing is kept and the
    # feedback endpoint answers 501.
    enabled: bool = True
    # Answered requests kept per version while they wait for their label (the newest);
    # feedback for an older request id is counted as unknown.
    max_predictions: int = 100000
    # Labelled requests kept per version for `mlops release compare` (the newest).
    max_outcomes: int = 100000
    # Labelled examples each version needs before `mlops release compare` gives a verdict.
    min_samples: int = 200
    # Confidence level of the intervals of the difference canary - production.
    confidence: float = 0.95
    # The metric the verdict follows; auto: auc for a binary classifier, accuracy for a
    # multi-class one, rmse for regression.
    metric: Literal["auto", "accuracy", "auc", "rmse"] = "auto"
    # `mlops release promote` refuses unless the verdict is "canary better"
    # (--require-winner / --no-require-winner decide for one command).
    require_winner: bool = False


@dataclass
class ReleaseSection:
    """The model registry, the local prediction service (`mlops serve`), and where traffic
    changes go."""

    # Registry state (JSON); default: "<serving_dir>.release.json", beside the serving folder.
    state_path: Optional[str] = path_field(None)
    # Where `mlops release` canary/promote/rollback also apply a change: local (the registry
    # only, which `mlops serve` follows), kserve (write the manifest) or vertex (the endpoint).
    target: Literal["local", "kserve", "vertex"] = "local"
    # Model name in REST paths (/v1/models/<name>); default: the pipeline name.
    model_name: Optional[str] = None
    # The address `mlops serve` binds (--host overrides); 0.0.0.0 for other machines.
    host: str = "127.0.0.1"
    # The port `mlops serve` listens on (--port overrides); 0 picks a free one.
    port: int = 8501
    # The port of TensorFlow Serving's gRPC API in `mlops serve` (--grpc-port overrides;
    # 8500 is TF Serving's); 0 turns gRPC off (unlike port, where 0 picks a free one).
    grpc_port: int = 8500
    # Largest gRPC message `mlops serve` receives or sends, in bytes; gRPC answers larger
    # ones with RESOURCE_EXHAUSTED. 4 MiB is gRPC's own default; TF Serving lifts it to
    # 2 GiB, which lets a single call hold that much of the server's memory.
    grpc_max_message_bytes: int = 4194304
    # Threads for `mlops serve`'s model calls that are not batched (batching off, or a
    # request as large as a batch). Both APIs read and answer on one asyncio event loop;
    # batched calls run on each model's batch runner thread.
    threads: int = 8
    # Largest predict request body `mlops serve` accepts, in bytes; larger ones get a 400.
    max_request_bytes: int = 1048576
    # A request header whose value pins a caller to one version (e.g. X-Session-Id).
    sticky_header: Optional[str] = None
    rollback: RollbackPolicySection = field(default_factory=RollbackPolicySection)
    batching: BatchingSection = field(default_factory=BatchingSection)
    kserve: KServeTargetSection = field(default_factory=KServeTargetSection)
    vertex_endpoint: VertexEndpointSection = field(default_factory=VertexEndpointSection)
    # The A/B test on real outcomes: feedback, `mlops release compare`, --require-winner.
    ab_test: AbTestSection = field(default_factory=AbTestSection)


@dataclass
class DriftSection:
    """The drift trigger: the newest input against the serving model's training data."""

    # Fire when a compared feature of the newest input drifts above its threshold from
    # the statistics the serving model was trained on.
    enabled: bool = True
    # TFDV comparators: L-infinity distance for categorical (string) features,
    # Jensen-Shannon divergence for numeric ones; a feature drifts above its threshold.
    default_threshold: float = 0.2
    # Thresholds of single features by name, in place of default_threshold.
    thresholds: dict[str, float] = field(default_factory=dict)
    # Features compared; empty = every schema feature not DEPRECATED, DISABLED or PLANNED
    # (the label included).
    features: list[str] = field(default_factory=list)


@dataclass
class DecaySection:
    """The decay trigger: the serving model scored on newly labelled rows."""

    # Fire when the serving model scores worse on labelled_data than at its evaluation.
    enabled: bool = False
    # Newly labelled rows (a CSV file, a folder of CSVs, or a span pattern under data_root
    # when it contains {SPAN}): the serving model is scored on them.
    labelled_data: Optional[str] = path_field(None)
    # Metric computed on labelled_data and compared with the same metric in the serving
    # model's evaluation (so the Evaluator must have recorded it). Classification:
    # binary_accuracy (one score per row, above 0.5 is positive), auc (one score per row),
    # sparse_categorical_accuracy (argmax over class scores; one score: above 0.5 is class
    # 1). Regression: root_mean_squared_error, mean_absolute_error (there a rise is decay).
    # No default (it depends on the model): the decay trigger fails until it is set. A
    # metric that does not fit the model's output is an error.
    metric: Optional[Literal["binary_accuracy", "auc", "sparse_categorical_accuracy",
                             "root_mean_squared_error", "mean_absolute_error"]] = None
    # Fires when the metric is worse on labelled data than at evaluation by more than
    # max_drop (a fall for accuracy and auc, a rise for errors).
    max_drop: float = 0.05


@dataclass
class CtSection:
    """Continuous training: which triggers start the pipeline (see docs/continuous-training.md)."""

    # A 5-field cron expression (minute hour day-of-month month day-of-week), or null.
    # In UTC; @hourly, @daily, @weekly, ... work too. Null: no schedule trigger.
    schedule: Optional[str] = None
    # Fire when the newest input is one no ExampleGen run has ingested: a new span, or
    # (without {SPAN}) new or changed files.
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
    """CI/CD (`mlops ci`): where compiled pipelines are kept, and whether deploy tests them."""

    # Where `mlops ci compile` stores the compiled pipeline and the build manifest, under
    # <artifact_store>/<pipeline>/<commit>/ (a folder or gs://).
    artifact_store: str = path_field(".mlops/ci/artifacts")
    # `mlops ci deploy` also starts a run and waits for it: deploy as an integration test.
    run_after_deploy: bool = False
    # How long `mlops ci deploy` waits for that run, in minutes, before it fails (the run
    # itself keeps going).
    wait_timeout_minutes: int = 60


@dataclass
class Settings:
    """One environment's settings: the `base` block, the environment's block over it, and
    MLOPS_* variables over both."""

    pipeline: PipelineSection
    # Where this environment's pipeline runs: local (this process), container (the local
    # runner inside the pipeline image), kubeflow or vertex (compile and deploy targets;
    # `mlops run` runs those environments locally).
    runner: Literal["local", "container", "kubeflow", "vertex"] = "local"
    # TFX caching: a component whose inputs and properties are unchanged reuses its earlier
    # outputs (`mlops run --no-cache` turns it off once; Vertex AI follows vertex.enable_caching).
    enable_cache: bool = True
    # Work-arounds for slow spots in the pinned TensorFlow, TFX, google-api-core and CPython
    # (framework/core/speedups.py, the Performance page): seconds off start-up, training and
    # evaluation of local and container runs; none changes what a run computes. Each applies
    # only to the exact versions it was written for and does nothing on others. False turns
    # them all off for this environment's runs (to rule them out after an upgrade, say);
    # MLOPS_SPEEDUPS=0 also turns off the ones every `mlops` command applies at start.
    speedups: bool = True
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
