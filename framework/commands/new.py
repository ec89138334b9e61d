"""`mlops new`: a pipeline package, in the shape of pipelines/taxi, from a table (CSV, Parquet
or TFRecord of tf.Examples) and the column to predict (docs/bring-your-own-data.md)."""

NAME = "new"
HELP = ("write a pipeline package pipelines/NAME/ for a table (CSV, Parquet or TFRecord) and "
        "the column to predict, with its schema, settings and test")
# The package's name is a Python package name and the TFX pipeline's name.
NAME_PATTERN = r"[a-z][a-z0-9_]{0,62}"


def add_arguments(parser) -> None:
    parser.add_argument("name", metavar="NAME",
                        help="the package to write, pipelines/NAME/ (lower-case letters, digits "
                             "and '_', starting with a letter); also the pipeline's name")
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="the table: a .csv, .parquet or .tfrecord file (tf.Examples; "
                             ".tfrecord.gz if compressed)")
    parser.add_argument("--label", required=True, metavar="COLUMN",
                        help="the column to predict")
    parser.add_argument("--task", choices=("classification", "regression"), default=None,
                        help="what to predict (default: classification for a string label or "
                             "a numeric one with at most 20 distinct values, else regression)")
    parser.add_argument("--exclude", nargs="+", action="extend", default=None, metavar="COL",
                        help="columns the model must not use (several, or the option repeated)")
    parser.add_argument("--id", dest="id_column", default=None, metavar="COLUMN",
                        help="the column that identifies a row: kept in the data, not a feature")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing pipelines/NAME/ and tests/pipelines/test_NAME.py")


def _check_name(name: str) -> None:
    import keyword
    import re

    from framework.core.errors import UserError

    if not re.fullmatch(NAME_PATTERN, name) or keyword.iskeyword(name):
        raise UserError(f"'{name}' cannot name a pipeline package: use lower-case letters, "
                        f"digits and '_', starting with a letter (it is the Python package "
                        f"pipelines.<NAME> and the pipeline's name)")


def _print_profile(found, prepared, shown) -> None:
    from framework.scaffold.profile import TASKS

    columns = len(prepared.columns) + len(prepared.dropped)
    print(f"read {shown(prepared.source)}: {found.rows} rows, {columns} columns; {prepared.how}")
    print(f"task: {TASKS[found.task]}: {found.task_reason}")
    print()
    width = max(len("column"), *(len(c.shown) for c in found.columns))
    print(f"{'column':<{width}}  {'kind':<11}  reason")
    for column in found.columns:
        print(f"{column.shown:<{width}}  {column.kind:<11}  {column.reason}")
    print()


def _place(staging, package, test_text: str, test_file) -> None:
    """Move the staged package to pipelines/NAME/ (replacing one with --force) and write its
    test; pipelines/ and tests/pipelines/ become packages where their parents are."""
    import shutil

    if package.exists():
        shutil.rmtree(package)
    package.parent.mkdir(parents=True, exist_ok=True)
    if not (package.parent / "__init__.py").exists():
        (package.parent / "__init__.py").write_text('"""Pipeline packages, one per folder."""\n')
    shutil.move(str(staging), str(package))
    test_file.parent.mkdir(parents=True, exist_ok=True)
    # A package only inside a package: a top-level tests/pipelines/ package would hide
    # the project's `pipelines` package from the test that imports it.
    tests_init = test_file.parent / "__init__.py"
    if (test_file.parent.parent / "__init__.py").exists() and not tests_init.exists():
        tests_init.write_text("")
    test_file.write_text(test_text, encoding="utf-8")


def run(args) -> int:
    import logging
    import shutil
    import tempfile
    from pathlib import Path

    from framework.core.errors import UserError
    from framework.pipeline.discovery import project_root, shown
    from framework.scaffold import data, profile, render

    _check_name(args.name)
    # TFDV runs Beam pipelines for the statistics: Beam's notices are not this command's news.
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    root = project_root()
    package = root / "pipelines" / args.name
    test_file = root / "tests" / "pipelines" / f"test_{args.name}.py"
    existing = [p for p in (package, test_file) if p.exists()]
    if existing and not args.force:
        raise UserError(f"{shown(existing[0])} exists already: pass --force to replace it, or "
                        f"choose another name")
    source = Path(args.data).expanduser().resolve()
    staging = Path(tempfile.mkdtemp(prefix=f"mlops-new-{args.name}-"))
    try:
        # A file inside the package that --force replaces is copied, never referenced.
        prepared = data.prepare(source, staging / "data",
                                copy_always=package.resolve() in source.parents)
        label, exclude, id_column = profile.resolve_columns(
            prepared, args.label, args.exclude or [], args.id_column)
        found = profile.profile(prepared, label=label, task=args.task, exclude=exclude,
                                id_column=id_column)
        _print_profile(found, prepared, shown)
        test_text = render.write_package(found, prepared, args.name, staging)
        _place(staging, package, test_text, test_file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted(str(p.relative_to(package)) for p in package.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    print(f"wrote {shown(package)}/: {', '.join(files)}")
    print(f"wrote {shown(test_file)}: its preprocessing_fn on a few rows of the data "
          f"(pytest {shown(test_file)})")
    print(f"next: review {shown(package / 'features.py')} (move a column to another list to "
          f"change its kind), then `mlops run --pipeline {args.name}`")
    return 0
