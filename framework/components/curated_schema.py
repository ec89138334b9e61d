"""CuratedSchema: brings a schema file kept in the pipeline's folder into the pipeline.

Why not TFX's options: ImportSchemaGen is cached on the file's *path*, so an edited schema is
ignored by a cached run; an Importer of the folder records a path that open-source Kubeflow's
launcher cannot download (it takes only gs://, s3:// and minio://). This component runs like
any other (locally, in the image on Kubeflow and Vertex), copies the file into its output
artifact, and takes the file's content fingerprint as a parameter, so an edit invalidates the
cache.
"""

import os

from tfx import v1 as tfx


@tfx.dsl.components.component
def CuratedSchema(  # noqa: N802 - TFX components are named like classes
    schema_file: tfx.dsl.components.Parameter[str],
    fingerprint: tfx.dsl.components.Parameter[str],
    schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
) -> None:
    from tfx.dsl.io import fileio

    del fingerprint  # only part of the cache key
    fileio.makedirs(schema.uri)
    fileio.copy(schema_file, os.path.join(schema.uri, "schema.pbtxt"), overwrite=True)
