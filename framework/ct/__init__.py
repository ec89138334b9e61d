"""Continuous training: triggers that decide when the pipeline runs again, and why.

- `triggers`: schedule (cron), new data (a new span or new files under the data root),
  drift (TFDV comparators, newest span vs the serving model's training data) and decay
  (the serving model's metric on newly labelled data vs its own evaluation).
- `loop`: `check` evaluates them once; `run` also starts the pipeline when one fired;
  `watch` repeats. A lock keeps overlapping checks from starting two runs, and every
  decision goes to the `history` store.
- `production`: the schedule as a KFP recurring run or a Vertex AI schedule; `events`:
  an entry point for Pub/Sub notifications about new files in a bucket (which files are
  pipeline input: `framework.pipeline.input_pattern`, shared with the pre-run data check).
"""

# `mlops ct check` exit codes: 0 = nothing fired, 10 = at least one trigger fired.
# (Errors a user can fix keep the CLI's usual non-zero codes: 2, 3, 4.)
EXIT_NONE_FIRED = 0
EXIT_FIRED = 10
# A trigger that could not be evaluated (it crashed): the decision is not to be trusted.
EXIT_TRIGGER_ERROR = 11
