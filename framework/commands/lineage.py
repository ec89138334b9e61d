"""`mlops lineage <model version | run id>`: the ML-Metadata chain behind a pushed model."""

from framework.commands._common import add_pipeline_env

NAME = "lineage"
HELP = "show data span -> examples -> statistics -> transform -> model -> evaluation -> push"


def add_arguments(parser) -> None:
    parser.add_argument("ref", nargs="?", default="latest",
                        help="model version (serving folder name), run id, or 'latest'")
    add_pipeline_env(parser)
    parser.add_argument("--json", action="store_true", help="print the chain as JSON")


def run(args) -> int:
    import json

    from framework.ct.quiet import quiet_libraries
    from framework.metadata.lineage import Graph, format_lineage, model_lineage
    from framework.metadata.store import open_store
    from framework.settings import load_settings

    quiet_libraries()
    settings = load_settings(args.pipeline, args.env)
    with open_store(settings) as store:
        steps = model_lineage(Graph(store, settings.pipeline.name), args.ref)
    if args.json:
        print(json.dumps([s.to_dict() for s in steps], indent=2, default=str))
    else:
        print(format_lineage(settings.pipeline.name, args.ref, steps))
    return 0
