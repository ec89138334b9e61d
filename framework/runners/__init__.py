"""Runners: where a pipeline runs. Registered by import path, imported only when used."""

from __future__ import annotations

import importlib

from framework.core.errors import UserError

RUNNERS = {
    "local": "framework.runners.local:LocalRunner",
    "container": "framework.runners.container:ContainerRunner",
    "kubeflow": "framework.runners.kubeflow:KubeflowRunner",
    "vertex": "framework.runners.vertex:VertexRunner",
}


def get_runner(name: str, settings, **options):
    """An instance of the runner called `name`, built from resolved settings."""
    target = RUNNERS.get(name)
    if target is None:
        raise UserError(f"unknown runner '{name}' (choose one of: {', '.join(RUNNERS)})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise UserError(f"runner '{name}' is not available in this installation") from None
        raise
    return getattr(module, class_name)(settings, **options)
