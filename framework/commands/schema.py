"""`mlops schema`: bootstrap or refresh a pipeline's curated schema from its latest statistics
(the newest StatisticsGen output of that pipeline's runs in ML-Metadata)."""

from framework.commands._common import add_pipeline_env

NAME = "schema"
HELP = ("refresh pipelines/<name>/schema/schema.pbtxt from the pipeline's latest statistics, "
        "keeping curation")


def add_arguments(parser) -> None:
    add_pipeline_env(parser)
    parser.add_argument("--check", action="store_true",
                        help="only show what would change; exit 1 if anything would")


def run(args) -> int:
    from framework.pipeline.discovery import find_pipeline
    from framework.pipeline.schema_tools import latest_statistics_uri, refresh_schema
    from framework.settings import load_settings

    settings = load_settings(args.pipeline, args.env)
    schema_file = find_pipeline(args.pipeline).folder / "schema" / "schema.pbtxt"
    statistics = latest_statistics_uri(settings)
    print(f"statistics: {statistics}")
    changes = refresh_schema(statistics, schema_file, write=not args.check)
    if not changes:
        print(f"{schema_file}: up to date with the latest statistics")
        return 0
    verb = "would change" if args.check else "updated"
    print(f"{schema_file}: {verb}:")
    for change in changes:
        print(f"  {change}")
    return 1 if args.check else 0
