"""The seeded support-ticket generator shipped in nbtoolkit.examples."""

from __future__ import annotations

import pytest

from nbtoolkit.errors import BadInput
from nbtoolkit.examples.tickets import (CATEGORIES, FEATURES, NEW_PRODUCTS, build_classifier,
                                        edge_case_tickets, generate_tickets)


def test_seeded_and_well_formed():
    a, b = generate_tickets(300, seed=3), generate_tickets(300, seed=3)
    assert a.equals(b)
    assert not a.equals(generate_tickets(300, seed=4))
    assert list(a.columns) == ["ticket_id", "created_at", "channel", "tier", "subject", "body", "category"]
    assert a["ticket_id"].is_unique and a["created_at"].is_monotonic_increasing
    assert set(a["category"]) == set(CATEGORIES)
    assert a["created_at"].min() >= __import__("pandas").Timestamp("2026-01-01")
    assert (a["body"].str.len() > 20).all()


def test_drift_knobs_change_what_they_say():
    base = generate_tickets(2000, seed=0, label_noise=0.0)
    drifted = generate_tickets(2000, seed=0, new_product_share=0.5, category_mix={"bug": 4.0},
                               new_channel="whatsapp", new_channel_share=0.3)
    assert (drifted["category"] == "bug").mean() > 2 * (base["category"] == "bug").mean()
    assert 0.25 < (drifted["channel"] == "whatsapp").mean() < 0.35 and "whatsapp" not in set(base["channel"])
    mentions = drifted["body"].str.contains("|".join(NEW_PRODUCTS)) | drifted["subject"].str.contains("|".join(NEW_PRODUCTS))
    assert mentions.mean() > 0.4
    assert not base["body"].str.contains("|".join(NEW_PRODUCTS)).any()


def test_label_noise_flips_the_requested_share():
    clean = generate_tickets(3000, seed=1, label_noise=0.0)
    noisy = generate_tickets(3000, seed=1, label_noise=0.2)
    assert clean[["subject", "body"]].equals(noisy[["subject", "body"]])
    assert 0.17 < (clean["category"] != noisy["category"]).mean() < 0.23


def test_a_classifier_learns_it_but_not_perfectly():
    train, test = generate_tickets(1500, seed=0), generate_tickets(500, seed=1)
    clf = build_classifier().fit(train[FEATURES], train["category"])
    accuracy = (clf.predict(test[FEATURES]) == test["category"]).mean()
    assert 0.8 < accuracy < 0.97  # learnable, yet with low-confidence tickets for humans


def test_edge_cases():
    cases = edge_case_tickets(10)
    assert set(cases) == {"empty_body", "very_long_body", "all_caps", "other_language", "mixed_topics"}
    assert (cases["empty_body"]["body"] == "").all()
    assert (cases["very_long_body"]["body"].str.len() >= 2500).all()
    assert (cases["all_caps"]["subject"] == cases["all_caps"]["subject"].str.upper()).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"n": -1}, "n must be a whole number >= 0"),
    ({"n": 2.5}, "n must be a whole number"),
    ({"label_noise": 1.5}, "label_noise must be between 0 and 1"),
    ({"category_mix": {"billig": 2}}, "Unknown category 'billig'"),
    ({"start": "not a date"}, "start must be a date"),
])
def test_bad_input(kwargs, message):
    kwargs = {"n": 10, **kwargs}
    with pytest.raises(BadInput, match=message):
        generate_tickets(**kwargs)
