"""The benchmark script's parts that can be checked without a pipeline run.

No timing is asserted: these check what is measured and how it is reported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import proc_measure  # noqa: E402
import results_report  # noqa: E402
import run as bench_run  # noqa: E402
import scale_data  # noqa: E402
import tfx_template  # noqa: E402


def _installed_template() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    return Path(list(spec.submodule_search_locations)[0]) / "experimental" / "templates" / "taxi"


def test_template_copy_gets_every_component_switched_on_and_installed_file_untouched():
    pipeline_py = _installed_template() / "pipeline" / "pipeline.py"
    before = pipeline_py.read_text()
    enabled = tfx_template.enable_all_components(before)
    assert "# components.append(" in before
    assert "# components.append(" not in enabled
    # CsvExampleGen, StatisticsGen, SchemaGen (both branches), ExampleValidator, Transform,
    # Trainer, resolver, Evaluator, Pusher.
    assert enabled.count("components.append(") == 10
    assert pipeline_py.read_text() == before


def test_template_steps_and_output_dir_are_set_in_the_copy():
    configs = (_installed_template() / "pipeline" / "configs.py").read_text()
    changed = tfx_template.set_steps(configs, 77, 9)
    assert "\nTRAIN_NUM_STEPS = 77\n" in changed and "\nEVAL_NUM_STEPS = 9\n" in changed
    runner = (_installed_template() / "local_runner.py").read_text()
    assert "OUTPUT_DIR = '/tmp/x'" in tfx_template.set_output_dir(runner, "/tmp/x")


def test_template_copy_reads_the_full_feature_set_the_template_offers():
    import types

    features_py = _installed_template() / "models" / "features.py"
    before = features_py.read_text()
    module = types.ModuleType("template_features")
    exec(tfx_template.enable_all_features(before), module.__dict__)
    assert module.DENSE_FLOAT_FEATURE_KEYS == ["trip_miles", "fare", "trip_seconds"]
    assert len(module.BUCKET_FEATURE_KEYS) == len(module.BUCKET_FEATURE_BUCKET_COUNT) == 4
    assert module.CATEGORICAL_FEATURE_MAX_VALUES == [24, 31, 12]
    assert module.VOCAB_FEATURE_KEYS == ["payment_type", "company"]
    assert features_py.read_text() == before


def test_changed_template_is_refused_rather_than_run_half_enabled():
    with pytest.raises(RuntimeError, match="features.py changed"):
        tfx_template.enable_all_features("VOCAB_FEATURE_KEYS = []\n")
    with pytest.raises(RuntimeError, match="pipeline.py changed"):
        tfx_template.enable_all_components("components = []\n")
    with pytest.raises(RuntimeError, match="configs.py changed"):
        tfx_template.set_steps("TRAIN_NUM_STEPS = 5\n", 1, 1)


def test_template_component_seconds_come_from_running_and_finished_lines():
    log = ("[     1.00] INFO:absl:Component CsvExampleGen is running.\n"
           "[     4.50] INFO:absl:Component CsvExampleGen is finished.\n"
           "[     4.60] INFO:absl:Component Trainer is running.\n"
           "[    10.60] INFO:absl:Component Trainer is finished.\n"
           "[    10.70] INFO:absl:Component Pusher is running.\n")  # never finished
    seconds = tfx_template.component_seconds(proc_measure.stamped_lines(log))
    assert seconds == {"CsvExampleGen": 3.5, "Trainer": 6.0}


def test_measure_sees_child_memory_exit_code_and_stamps_output(tmp_path):
    code = ("import sys\nblock = bytearray(300 * 2**20)\nblock[::4096] = b'x' * len(block[::4096])\n"
            "print('allocated', flush=True)\nsys.exit(3)\n")
    log = tmp_path / "child.log"
    m = proc_measure.measure([sys.executable, "-c", code], log_path=str(log), interval=0.02)
    assert m.returncode == 3 and not m.ok
    assert m.peak_single_rss_mb >= 300
    [(_, line)] = list(proc_measure.stamped_lines(log.read_text()))
    assert line == "allocated"


def test_measure_adds_up_memory_of_the_whole_process_tree(tmp_path):
    # Two grandchildren of 150 MB each, alive at the same time: the tree figure sees both.
    # Each holds its block until both have theirs (files as a barrier), so a slow start of
    # one on a busy machine cannot make them take turns.
    child = ("import sys, time, pathlib\nb = bytearray(150 * 2**20)\n"
             "b[::4096] = b'x' * len(b[::4096])\nd = pathlib.Path(sys.argv[1])\n"
             "(d / sys.argv[2]).touch()\nend = time.time() + 60\n"
             "while len(list(d.iterdir())) < 2 and time.time() < end:\n    time.sleep(0.05)\n"
             "time.sleep(1.0)\n")
    parent = (f"import subprocess, sys\nc = {child!r}\n"
              f"ps = [subprocess.Popen([sys.executable, '-c', c, {str(tmp_path)!r}, str(i)])"
              " for i in range(2)]\n"
              "[p.wait() for p in ps]\n")
    m = proc_measure.measure([sys.executable, "-c", parent], interval=0.05)
    assert m.ok
    # Only a sum over the tree reaches 300 MB: each process held one 150 MB block. (The
    # single-process figure is not compared: ru_maxrss of a child forked from a large test
    # process counts the parent's pages it shared before exec.)
    assert m.peak_tree_rss_mb >= 300


def test_measure_kills_a_run_past_its_timeout():
    m = proc_measure.measure([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert m.returncode != 0 and m.extra.get("timed_out")


def test_growth_exponent_is_one_for_linear_time_and_lower_with_fixed_costs():
    linear = results_report.growth_exponent([(1000, 2.0), (10000, 20.0), (100000, 200.0)])
    assert linear == {"overall": 1.0, "largest_step": 1.0}
    fixed = results_report.growth_exponent([(1000, 101.0), (10000, 110.0), (100000, 200.0)])
    assert fixed["largest_step"] < 0.3 and fixed["overall"] < fixed["largest_step"]
    assert results_report.growth_exponent([(1000, 1.0)]) == {"overall": None, "largest_step": None}


def test_component_growth_names_the_part_that_grows_faster_than_the_rows():
    def run(rows, evaluator, examples, trainer):
        return {"rows": rows, "ok": True, "seconds": evaluator + examples + trainer,
                "components": {"Evaluator": evaluator, "CsvExampleGen": examples,
                               "Trainer": trainer}}

    runs = [run(150_000, 20.0, 15.0, 16.0), run(1_500_000, 100.0, 100.0, 16.0),
            run(3_000_000, 400.0, 200.0, 16.0)]
    runs[1]["components"]["Pusher"] = runs[2]["components"]["Pusher"] = 0.5
    growth = results_report.growth({"in_memory": runs})["in_memory"]
    # Between the two largest sizes: the Evaluator 4x for 2x rows, ExampleGen 2x, the Trainer
    # (a fixed number of steps) the same; the Pusher, under 10 s, is left out.
    assert growth["components"] == {"Evaluator": 2.0, "CsvExampleGen": 1.0, "Trainer": 0.0}
    assert "Per component, between the same two sizes: Evaluator 2.0, CsvExampleGen 1.0, " \
        "Trainer 0.0." in \
        "\n".join(results_report._scale({"scale": {"made_by": "x", "modes": {"in_memory": runs},
                                                   "growth": {"in_memory": growth}}}))


def _scale(mode, seconds, peak_mb, ok=True):
    return {"rows": 1_500_000, "mode": mode, "ok": ok, "seconds": seconds, "peak_rss_mb": peak_mb}


def test_goals_report_pass_fail_and_not_measured():
    results = {
        "cold": {"median_ratio": 1.2},
        "rerun": {"median_ratio": 0.1},
        "scale": {"modes": {"in_memory": [_scale("in_memory", 290, 2900),
                                          {**_scale("in_memory", 900, 2900), "rows": 5_000_000}],
                            "multi_processing": [_scale("multi_processing", 250, 3200)]},
                  "growth": {"in_memory": {"largest_step": 0.8}}},
        "startup": None,
    }
    verdicts = {g["goal"]: g["verdict"] for g in results_report.evaluate_goals(results)}
    assert verdicts["cold run vs TFX template (median of per-pair ratios)"] == "FAIL"
    assert verdicts["first unchanged re-run after the cold run vs cold run (median ratio)"] == "PASS"
    assert verdicts["second unchanged re-run (steady state) vs cold run (median ratio)"] == (
        "not measured")
    assert verdicts["1.5M rows, in_memory"] == "PASS"
    assert verdicts["1.5M rows, multi_processing"] == "FAIL"  # 3.1 GB: over the 3 GB limit
    assert verdicts["10M rows finish, in_memory"] == "not measured"
    assert verdicts["`mlops --help` start-up (median)"] == "not measured"
    assert verdicts["time vs rows, in_memory (exponent between the two largest sizes)"] == "PASS"
    growth = "time vs rows, multi_processing (exponent between the two largest sizes)"
    assert verdicts[growth] == "not measured"


def test_goal_at_1_5m_rows_is_not_measured_when_the_curve_stops_short():
    small = {"rows": 50_000, "mode": "in_memory", "ok": True, "seconds": 60, "peak_rss_mb": 900}
    results = {"scale": {"modes": {"in_memory": [small]}, "growth": {}}}
    results["scale"]["growth"] = {"in_memory": {"largest_step": 0.5}}
    goals = results_report.evaluate_goals(results)
    [row] = [g for g in goals if g["goal"].startswith("1.5M")]
    assert row["verdict"] == "not measured" and "50,000" in row["measured"]
    [growth] = [g for g in goals if g["goal"].startswith("time vs rows")]
    assert growth["verdict"] == "not measured" and "needs two sizes" in growth["measured"]
    # One size past 1.5M is not enough: the step from 150k is still mostly fixed costs.
    big = {**small, "rows": 5_000_000, "seconds": 1000}
    results = {"scale": {"modes": {"in_memory": [small, big]},
                         "growth": results_report.growth({"in_memory": [small, big]})}}
    [growth] = [g for g in results_report.evaluate_goals(results)
                if g["goal"].startswith("time vs rows")]
    assert growth["verdict"] == "not measured" and "needs two sizes" in growth["measured"]


@pytest.mark.parametrize("mode, probes, trips, verdict", [
    ("portable", [[0.17, 0.18], [0.18, 0.19]], [[40e3, 38e3], [39e3, 41e3]], "PASS"),  # same
    ("portable", [[0.17, 0.18], [0.40, 0.45]], [[40e3, 38e3], [39e3, 41e3]], "not measured"),
    ("in_memory", [[0.17, 0.18], [0.40, 0.45]], [[40e3, 38e3], [39e3, 41e3]], "not measured"),
    ("portable", [[0.17, 0.18], [0.18, 0.19]], [[40e3, 38e3], [12e3, 14e3]], "not measured"),
    # in_memory sends nothing over loopback: the round trips do not bear on its times
    ("in_memory", [[0.17, 0.18], [0.18, 0.19]], [[40e3, 38e3], [12e3, 14e3]], "PASS"),
])
def test_time_vs_rows_is_judged_only_when_the_speed_probes_agree(mode, probes, trips, verdict):
    runs = [{"rows": rows, "mode": mode, "ok": True, "seconds": seconds,
             "speed_probe_s": probe, "round_trips_per_s": trip}
            for rows, seconds, probe, trip in ((5_000_000, 1000, probes[0], trips[0]),
                                               (10_000_000, 1900, probes[1], trips[1]))]
    results = {"scale": {"modes": {mode: runs}, "growth": results_report.growth({mode: runs})}}
    [growth] = [g for g in results_report.evaluate_goals(results)
                if g["goal"].startswith("time vs rows")]
    assert growth["verdict"] == verdict
    assert ("not judged" in growth["measured"]) == (verdict != "PASS")


def test_steal_share_is_the_stolen_part_of_the_ticks_between_two_readings():
    import speed_probe

    assert speed_probe.steal_share((1000, 10), (2000, 60)) == 0.05
    assert speed_probe.steal_share(None, (2000, 60)) is None
    before = speed_probe.cpu_ticks()
    assert before is not None and before[0] > 0 and 0 <= before[1] <= before[0]
    probe = speed_probe.probe(repeats=1)
    assert probe["seconds"] > 0 and probe["round_trips_per_s"] > 0


def test_resampled_data_has_the_sample_header_and_the_asked_rows(tmp_path):
    out = tmp_path / "data.csv"
    scale_data.resample(out, 250, seed=1)
    header = scale_data.sample_csv().read_text().splitlines()[0]
    lines = out.read_text().splitlines()
    assert lines[0] == header and scale_data.count_rows(out) == 250


def test_markdown_has_a_goal_table_and_every_measured_section():
    pair = {"pair": 1, "order": "ours then template", "ratio": 0.9,
            "ours": {"seconds": 90.0, "peak_rss_mb": 1500, "components": {"Trainer": 30.0}},
            "template": {"seconds": 100.0, "peak_rss_mb": 1200, "components": {"Trainer": 40.0}}}
    results = {
        "meta": {"date": "d", "mode": "quick", "command": "c", "train_steps": 1, "eval_steps": 1,
                 "machine": {"cores": 2, "memory_gb": 8, "cpu": "x", "load_average_at_start": []},
                 "versions": {"python": "3", "tfx": "1", "tensorflow": "2", "apache-beam": "2"}},
        "cold": bench_run.Bench._cold_summary([pair]),
        "rerun": {"runs": [], "median_ratio": None},
        "startup": {"runs": [0.5], "median_seconds": 0.5, "peak_rss_mb": 20},
        "serving": {"skipped": "Not measured: no service"},
        "errors": [],
    }
    results["goals"] = results_report.evaluate_goals(results)
    text = results_report.render_markdown(results)
    assert "| cold run vs TFX template (median of per-pair ratios) | <= 1.0 | 0.90 | PASS |" in text
    assert "| Trainer | 30.0 | 40.0 |  |  |" in text
    assert "| outside components | 60.0 | 60.0 |  |  |" in text
    assert "Not measured: no service" in text


def test_component_cpu_pairs_opening_and_closing_lines_of_both_pipelines():
    marks = [(1.0, 10.0, "[ 1/10] CsvExampleGen                    started"),
             (5.0, 14.5, "[ 1/10] CsvExampleGen                    complete     4.0s"),
             (6.0, 15.0, "INFO:absl:Component Trainer is running."),
             (9.0, 21.0, "INFO:absl:Component Trainer is finished."),
             (9.5, 21.5, "[ 3/10] Transform                        started")]
    assert bench_run.component_cpu(marks) == {"CsvExampleGen": 4.5, "Trainer": 6.0}


def test_measure_records_cpu_at_marked_lines():
    code = ("import time\nprint('go', flush=True)\nt = time.process_time()\n"
            "while time.process_time() - t < 0.3: pass\nprint('done', flush=True)\n")
    m = proc_measure.measure([sys.executable, "-c", code], mark=r"^(go|done)$")
    (_, cpu_go, _, _), (_, cpu_done, _, _) = m.extra["marks"]
    assert cpu_done - cpu_go >= 0.25


def test_measure_records_the_memory_peak_between_marked_lines():
    # 300 MB held between 'go' and 'done', freed before 'freed', so gone from then to 'end'.
    code = ("import time\nprint('go', flush=True)\nblock = bytearray(300 * 2**20)\n"
            "time.sleep(1.0)\nprint('done', flush=True)\ndel block\n"
            "print('freed', flush=True)\ntime.sleep(0.5)\nprint('end', flush=True)\n")
    m = proc_measure.measure([sys.executable, "-c", code], mark=r"^(go|done|freed|end)$",
                             interval=0.05)
    go, done, _, end = (mark[3] for mark in m.extra["marks"])
    assert done - go >= 250
    assert end < done - 250


def test_component_peak_is_the_memory_peak_while_each_component_ran():
    marks = [(1.0, 10.0, "[ 1/10] CsvExampleGen                    started", 400.0),
             (5.0, 14.5, "[ 1/10] CsvExampleGen                    complete     4.0s", 2500.0),
             (5.5, 15.0, "[ 2/10] StatisticsGen                    started", 2500.0),
             (9.0, 21.0, "[ 2/10] StatisticsGen                    complete     3.5s", 2600.0)]
    assert bench_run.component_peak_mb(marks) == {"CsvExampleGen": 2500.0, "StatisticsGen": 2600.0}


def test_rehearsal_benchmark_summarises_medians_and_reports_failed_runs():
    import rehearsal_bench

    runs = [{"seconds": s, "peak_tree_rss_mb": m, "machine_memory_peak_above_baseline_mb": 2 * m,
             "returncode": rc} for s, m, rc in ((100.0, 900.0, 0), (120.0, 1100.0, 0),
                                                (110.0, 1000.0, 1))]
    summary = rehearsal_bench.summary(runs)
    assert summary == {"median_seconds": 110.0, "median_peak_tree_rss_mb": 1000.0,
                       "median_machine_memory_mb": 2000.0, "all_succeeded": False}


def test_machine_memory_sees_memory_taken_by_another_process():
    import subprocess

    import rehearsal_bench

    # 1 GB written by a process outside this one's tree, as a task container's would be. The
    # margin leaves room for what the rest of the machine frees or takes meanwhile.
    with rehearsal_bench.MachineMemory(interval=0.05) as memory:
        subprocess.run([sys.executable, "-c",
                        "import time; b = b'x' * (1024 * 2**20); time.sleep(1.5)"], check=True)
    assert memory.peak_above_baseline_mb > 512


def test_the_portable_scale_mode_runs_beams_own_job_service_and_the_others_direct_runner():
    from framework.settings import load_settings

    for mode, workers in (("portable", 0), ("multi_processing", 2), ("in_memory", 0)):
        environ = {k: str(v) for k, v in bench_run.beam_mode(mode, workers).items()}
        beam = load_settings("taxi", "test", environ=environ).beam
        if mode == "portable":
            assert (beam.runner, beam.portable.local_services) == ("PortableRunner", True)
            assert beam.portable.sdk_worker_parallelism == 2  # the "two workers"
        else:
            assert (beam.runner, beam.direct_running_mode) == ("DirectRunner", mode)


def _results_folder(root, name, date, scale_runs=None, startup=None, cpu=None):
    folder = root / name
    folder.mkdir()
    results = {"meta": {"date": date, "machine": {"cpu": cpu}},
               "scale": {"made_by": "gen", "train_steps": 100, "modes": scale_runs or {}},
               "startup": startup}
    (folder / "results.json").write_text(json.dumps(results))


def test_performance_page_takes_each_section_and_each_scale_point_from_the_newest_run(tmp_path):
    run = lambda rows, s: {"rows": rows, "mode": "in_memory", "ok": True, "seconds": s,  # noqa: E731
                           "peak_rss_mb": 900}
    _results_folder(tmp_path, "2026-01-01-aaaaaaa", "2026-01-01 10:00 UTC",
                    {"in_memory": [run(15000, 40.0), run(150000, 80.0)]},
                    {"median_seconds": 0.5, "runs": [0.5]})
    _results_folder(tmp_path, "2026-01-02-bbbbbbb", "2026-01-02 10:00 UTC",
                    {"in_memory": [run(150000, 70.0), run(1500000, 400.0)]})
    merged, sources = results_report.merged_results(tmp_path)
    curve = merged["scale"]["modes"]["in_memory"]
    assert [(r["rows"], r["seconds"], r["source"]) for r in curve] == [
        (15000, 40.0, "2026-01-01-aaaaaaa"), (150000, 70.0, "2026-01-02-bbbbbbb"),
        (1500000, 400.0, "2026-01-02-bbbbbbb")]
    assert sources["startup"] == "2026-01-01-aaaaaaa"  # the newer run did not measure it
    page = results_report.render_page(tmp_path, "# Performance\n\nIntro.")
    assert page.startswith("# Performance\n\nIntro.")
    assert "From `benchmarks/results/2026-01-01-aaaaaaa`." in page
    assert "| in_memory | 1,500,000 | 400.0 |" in page


def test_performance_page_shows_the_serving_table_of_the_run_measured_last_that_day(tmp_path):
    # Two runs on one day: the later one's commit sorts first by name.
    for name, date, figure in (("2026-01-01-fffffff", "2026-01-01 09:00", "old figure"),
                               ("2026-01-01-0000000", "2026-01-01 15:00", "new figure")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "serving.json").write_text(json.dumps({"meta": {"date": date}}))
        (folder / "serving.md").write_text(f"# Prediction service\n\n{figure}\n")
    page = results_report.render_page(tmp_path, "# P")
    assert "new figure" in page and "old figure" not in page
    assert "From `benchmarks/results/2026-01-01-0000000`." in page


def test_scale_points_from_another_processor_are_left_off_the_curve(tmp_path):
    run = lambda rows, s: {"rows": rows, "mode": "in_memory", "ok": True, "seconds": s}  # noqa: E731
    _results_folder(tmp_path, "2026-01-01-aaaaaaa", "2026-01-01 10:00 UTC",
                    {"in_memory": [run(15000, 40.0), run(1500000, 300.0)]}, cpu="AMD EPYC")
    _results_folder(tmp_path, "2026-01-02-bbbbbbb", "2026-01-02 10:00 UTC",
                    {"in_memory": [run(150000, 70.0)]}, cpu="Intel Xeon")
    _results_folder(tmp_path, "2026-01-03-ccccccc", "2026-01-03 10:00 UTC",
                    {"in_memory": [run(5000000, 1500.0)]}, cpu="Intel Xeon")
    merged, sources = results_report.merged_results(tmp_path)
    curve = merged["scale"]["modes"]["in_memory"]
    assert [r["rows"] for r in curve] == [150000, 5000000]
    assert sources["scale"] == "2026-01-02-bbbbbbb, 2026-01-03-ccccccc"
    assert "all on one processor (Intel Xeon)" in results_report.render_page(tmp_path, "# P")


def test_results_go_to_a_dated_folder_named_by_commit_by_default():
    args = bench_run.parse_args(["--only", "startup"])
    name = Path(args.out).name
    assert Path(args.out).parent == BENCH / "results"
    assert len(name.split("-")) == 4 and name[:4].isdigit()


def test_quickstart_benchmark_times_both_lines_and_reports_a_failed_step():
    import quickstart_bench

    assert [k for k, _, _ in quickstart_bench.STEPS] == ["cold", "second_line_setup", "warm"]
    results = {"meta": {"commit": "abc1234", "date": "2026-01-01 10:00 UTC", "note": "",
                        "machine": {"cores": 2}},
               "steps": [{"step": "cold", "what": "first line, no virtualenv yet",
                          "command": "tox -e pipeline", "seconds": 300.04, "ok": True},
                         {"step": "second_line_setup", "what": "second line, up to the first test",
                          "command": "tox -e test --notest", "seconds": 4.0, "ok": False}],
               "error": "second_line_setup exited 1: boom"}
    page = quickstart_bench.render(results)
    assert "| first line, no virtualenv yet | `tox -e pipeline` | 300.0 | ok |" in page
    assert "| 4.0 | FAILED |" in page and "Error: second_line_setup exited 1" in page
