"""The job service's worker count: set where Beam 2.59 keeps it, left alone elsewhere."""

from __future__ import annotations

import logging

from framework.runners import beam_job_service


def test_jobs_get_the_worker_count_of_their_options_on_the_beam_it_was_written_for(monkeypatch):
    from apache_beam.runners.portability import local_job_service

    monkeypatch.setattr(local_job_service, "BeamJob", local_job_service.BeamJob)
    assert beam_job_service.install() is True
    assert local_job_service.BeamJob.__name__ == "CountedBeamJob"


def test_another_beam_leaves_the_job_service_as_beam_ships_it(monkeypatch, caplog):
    from apache_beam.runners.portability import local_job_service

    original = local_job_service.BeamJob
    monkeypatch.setattr(local_job_service, "BeamJob", original)
    monkeypatch.setattr("importlib.metadata.version", lambda name: "2.61.0")
    with caplog.at_level(logging.WARNING):
        assert beam_job_service.install() is False
    assert local_job_service.BeamJob is original
    assert "jobs run on one SDK worker" in caplog.text
