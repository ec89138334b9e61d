"""`mlops pipelines`: list the pipelines found under pipelines/."""

NAME = "pipelines"
HELP = "list the pipelines under pipelines/"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    import sys

    from framework.pipeline.discovery import list_pipelines, project_root, shown, skipped_folders

    found = list_pipelines()
    # On stderr: stdout stays the list, one pipeline a line, for scripts.
    for folder, why in skipped_folders():
        print(f"skipped {shown(folder)}/: {why}", file=sys.stderr)
    if not found:
        print(f"no pipelines under {project_root() / 'pipelines'}")
        return 1
    width = max(len(p.name) for p in found)
    for info in found:
        print(f"{info.name:<{width}}  {info.description}")
    return 0
