"""The span generator: deterministic, sized, and shifted the way it is asked to be."""

import pandas as pd

from tests.ct.helpers import generator


def _read(path):
    return pd.read_csv(path)


def test_same_seed_writes_the_same_span_and_next_span_numbers_follow(tmp_path):
    gen = generator()
    first = gen.generate_span(tmp_path / "a", 500, seed=7)
    again = gen.generate_span(tmp_path / "b", 500, seed=7)
    assert first.read_bytes() == again.read_bytes()
    assert first.parent.name == "span-1"
    assert gen.generate_span(tmp_path / "a", 10, seed=8).parent.name == "span-2"
    assert len(_read(first)) == 500


def test_shift_moves_the_chosen_feature_mean_and_nothing_else(tmp_path):
    gen = generator()
    base = _read(gen.generate_span(tmp_path, 3000, seed=1, span=1))
    shifted = _read(gen.generate_span(tmp_path, 3000, seed=1, span=2,
                                      shifts={"trip_miles": "+8"}))
    assert shifted["trip_miles"].mean() - base["trip_miles"].mean() > 7.5
    assert abs(shifted["fare"].mean() - base["fare"].mean()) < 1e-6


def test_new_category_and_label_rate(tmp_path):
    gen = generator()
    frame = _read(gen.generate_span(tmp_path, 4000, seed=2, new_categories={
        "payment_type": ("Bitcoin", 0.3)}, label_rate=0.8))
    share = (frame["payment_type"] == "Bitcoin").mean()
    assert 0.25 < share < 0.35
    with_fare = frame[frame["fare"] > 0]
    big_tippers = (with_fare["tips"] > with_fare["fare"] * 0.2).mean()
    assert abs(big_tippers - 0.8) < 0.01


def test_command_line_writes_the_named_span(tmp_path, capsys):
    assert generator().main([str(tmp_path), "--rows", "50", "--span", "5", "--seed", "3"]) == 0
    assert (tmp_path / "span-5" / "data.csv").exists()
    assert "span-5" in capsys.readouterr().out
