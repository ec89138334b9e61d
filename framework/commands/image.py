"""`mlops image build`: build the pipeline image from docker/ without running anything."""

from __future__ import annotations

from framework.commands._common import add_pipeline_env

NAME = "image"
HELP = "build the pipeline image (docker/Dockerfile) through the Docker API"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="image_command", metavar="VERB")
    sub.required = True
    p = sub.add_parser("build", help="build and tag the image the container runner uses")
    add_pipeline_env(p)
    p.add_argument("--tag", "-t", action="append", default=None, metavar="REF",
                   help="image reference (repeatable; default: <image.repository>:local)")
    p.add_argument("--ca-bundle", default=None,
                   help="extra CA bundle for pip behind a TLS-inspecting proxy "
                   "(default: image.ca_bundle, else $PIP_CERT)")
    p.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    p.add_argument("--verbose", "-v", action="store_true", help="show the full build output")


def run(args) -> int:
    from framework.container.client import build_ca_bundle, docker_client
    from framework.container.image import BuildProgress, build_image
    from framework.pipeline.discovery import project_root
    from framework.runners.container import ContainerRunner
    from framework.settings import load_settings

    settings = load_settings(args.pipeline, args.env)
    refs = args.tag or [ContainerRunner(settings).local_ref()]
    client = docker_client(settings)
    print(f"image: building {', '.join(refs)} (base {settings.image.base_image})", flush=True)
    built = build_image(
        client, project_root(), refs, base_image=settings.image.base_image,
        ca_bundle=build_ca_bundle(settings, args.ca_bundle), nocache=args.no_cache,
        on_line=BuildProgress(lambda line: print(line, flush=True), args.verbose),
    )
    size = client.images.get(refs[0]).attrs.get("Size") or 0
    print(f"image: {built.image_id[:19]} in {built.seconds:.1f}s, "
          f"{built.cached_steps}/{built.steps} steps cached, {size / 1e9:.2f} GB")
    return 0
