"""The pipeline-spec layer: finding a pipeline package by name (discovery), the helpers its
create_pipeline uses (pipeline_support, schema_tools) and the data checks run before it.
"""
