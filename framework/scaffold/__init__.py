"""`mlops new`: a user's table and the column to predict in, a pipeline package out.

- `data`: the table as the CSV file the pipeline reads (copied, converted or referenced), with
  column names every layer accepts;
- `profile`: TFDV statistics and schema of that file, and the decisions made from them: the
  task, each column's kind and why;
- `render`: the package (`pipelines/<name>/`) and its test, written from `templates/`.

Nothing here is imported by a pipeline: the package it writes depends on the framework only
as a hand-written one does (`framework.pipeline.pipeline_support` and the components).
"""
