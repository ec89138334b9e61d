"""`mlops pipelines`: list the pipelines found under pipelines/."""

NAME = "pipelines"
HELP = "list the pipelines under pipelines/"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from framework.discovery import list_pipelines, project_root

    found = list_pipelines()
    if not found:
        print(f"no pipelines under {project_root() / 'pipelines'}")
        return 1
    width = max(len(p.name) for p in found)
    for info in found:
        print(f"{info.name:<{width}}  {info.description}")
    return 0
