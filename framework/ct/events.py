"""An event entry point: a Pub/Sub message about a new file in a bucket starts a run.

Deploy `on_new_files` as a Pub/Sub-triggered Cloud Function on the bucket's notification
topic (`gsutil notification create -t TOPIC -f json gs://BUCKET`), or call it from a Jenkins
job with the message body. The file must lie under `pipeline.data_root` and match
`pipeline.input_pattern`; anything else is ignored (and recorded as such).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Optional

from framework.ct.triggers import TriggerResult
from framework.pipeline.input_pattern import match_input


def parse_message(event: dict) -> dict:
    """{bucket, name, event_type} from a GCS notification delivered by Pub/Sub.

    Accepts the background-function event ({data, attributes}), a push subscription body
    ({message: {...}, subscription}) and a CloudEvent's data ({message: {...}}).
    """
    if isinstance(event, (bytes, str)):
        event = json.loads(event)
    message = event.get("message", event) if isinstance(event, dict) else {}
    attributes = message.get("attributes") or {}
    payload = {}
    data = message.get("data")
    if data:
        try:
            payload = json.loads(base64.b64decode(data).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            payload = {}
    bucket = attributes.get("bucketId") or payload.get("bucket")
    name = attributes.get("objectId") or payload.get("name")
    if not bucket or not name:
        from framework.core.errors import UserError

        raise UserError("the message names no bucket and object (expected a GCS notification: "
                        "attributes bucketId/objectId or JSON data with bucket/name)")
    return {"bucket": bucket, "name": name,
            "event_type": attributes.get("eventType", "OBJECT_FINALIZE")}


def on_new_files(event, context=None, *, pipeline: Optional[str] = None,
                 env: Optional[str] = None, runner_name: Optional[str] = None,
                 settings=None) -> dict:
    """Start a pipeline run for a new input file; returns the recorded decision."""
    from framework.ct.loop import run_once
    from framework.settings import load_settings

    message = parse_message(event)
    if settings is None:
        settings = load_settings(pipeline or os.environ.get("MLOPS_PIPELINE", "taxi"), env)
    uri = f"gs://{message['bucket']}/{message['name']}"
    span = match_input(settings, uri) if message["event_type"] == "OBJECT_FINALIZE" else None
    if span is None:
        why = (f"{message['event_type']} of {uri}: not a new file matching "
               f"{settings.pipeline.data_root}/{settings.pipeline.input_pattern}")
        trigger = TriggerResult("new_data", False, why, [message])
        decision = run_once(settings, command="event", triggers=[trigger])
        return decision.to_dict()
    trigger = TriggerResult("new_data", True, f"new file {uri} (span {span})",
                            [{**message, "span": span, "uri": uri}])
    decision = run_once(settings, command="event", runner_name=runner_name, triggers=[trigger])
    return decision.to_dict()
