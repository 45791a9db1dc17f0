"""Seeded generator of realistic support tickets (the example of the README and ``notebooks/``).

Each ticket has a subject and a body written from per-category vocabularies and templates, a
channel, a customer tier, a creation time and its true category. Knobs reproduce what happens in
production: new product words the model never saw, a shift of the category mix, a new channel,
and label noise (agents who file tickets under the wrong category)::

    from nbtoolkit.examples.tickets import generate_tickets, build_classifier
    train = generate_tickets(4000, seed=0)
    live = generate_tickets(500, seed=1, start="2026-02-01", new_product_share=0.4,
                            category_mix={"bug": 3.0}, new_channel="whatsapp")
    clf = build_classifier().fit(train[FEATURES], train["category"])

Numbers and pandas are imported inside the functions (this module ships inside the package).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BadInput

CATEGORIES = ("billing", "login", "bug", "shipping", "refund", "other")
CHANNELS = ("email", "chat", "web", "phone")
TIERS = ("free", "pro", "enterprise")
FEATURES = ["subject", "body", "channel", "tier"]
TARGET = "category"

# Base share of each category, and how channel / tier tilt it (multiplicative).
_MIX = {"billing": 0.22, "login": 0.2, "bug": 0.2, "shipping": 0.16, "refund": 0.12, "other": 0.1}
_CHANNEL_P = {"email": 0.4, "chat": 0.3, "web": 0.2, "phone": 0.1}
_TIER_P = {"free": 0.55, "pro": 0.33, "enterprise": 0.12}
_TILT = {
    ("chat", "login"): 1.6, ("email", "shipping"): 1.5, ("phone", "billing"): 1.5,
    ("web", "bug"): 1.5, ("enterprise", "bug"): 1.8, ("free", "refund"): 1.4,
    ("enterprise", "billing"): 1.4, ("free", "login"): 1.3,
}

_PRODUCTS = ["Pro plan", "mobile app", "desktop app", "API", "dashboard", "starter kit",
             "smart plug", "team workspace", "premium bundle", "gift card"]
# Product names launched after the model was trained (drift: words it has never seen).
NEW_PRODUCTS = ["NovaPay wallet", "Zenith hub", "Quasar cam", "Orbit tracker", "Lumen sync"]

_VOCAB: dict[str, dict[str, list[str]]] = {
    "billing": {
        "subjects": ["Charged twice for {product}", "Question about my invoice", "Wrong amount on my bill",
                     "Invoice {order} is incorrect", "Payment failed for {product}",
                     "Update credit card details", "Unexpected charge of ${amount}"],
        "phrases": ["I was charged ${amount} twice this month", "my invoice shows the wrong VAT number",
                    "the billing page shows a payment I do not recognise",
                    "please send a corrected invoice for {order}",
                    "my credit card was declined but the subscription renewed",
                    "the annual plan price on my statement is higher than quoted",
                    "can you explain the proration on my last bill"],
    },
    "login": {
        "subjects": ["Cannot log in", "Password reset link not working", "Locked out of my account",
                     "Two-factor code never arrives", "SSO login fails for {product}",
                     "Account locked after update"],
        "phrases": ["the password reset email never arrives", "I get 'invalid credentials' with the right password",
                    "my account is locked after too many attempts",
                    "the two-factor authentication code is rejected",
                    "single sign-on redirects me back to the login page",
                    "I cannot sign in to the {product} since this morning",
                    "the verification code expired before I could use it"],
    },
    "bug": {
        "subjects": ["{product} crashes on startup", "Error 500 when saving", "Export button does nothing",
                     "App freezes when uploading", "Broken layout in {product}", "Sync error in {product}"],
        "phrases": ["the {product} crashes every time I open settings", "I get error 500 when I save a report",
                    "the export to CSV produces an empty file", "the screen freezes while uploading a file",
                    "after the latest update the buttons overlap", "data does not sync between devices",
                    "the app throws an exception and closes", "steps to reproduce: open the page and click save"],
    },
    "shipping": {
        "subjects": ["Where is my order {order}?", "Package not delivered", "Tracking number not working",
                     "Delivery delayed for {product}", "Wrong delivery address", "Order {order} stuck in transit"],
        "phrases": ["my package has not arrived after two weeks", "the tracking number shows no updates",
                    "the courier left the parcel at the wrong address",
                    "order {order} has been stuck in transit since Monday",
                    "can I change the delivery address before it ships",
                    "the box arrived damaged and the {product} is missing"],
    },
    "refund": {
        "subjects": ["Request a refund for {product}", "Refund not received", "Return and refund order {order}",
                     "Money back please", "Cancel and refund my subscription"],
        "phrases": ["I would like a refund for the {product}", "I returned the item but the refund is not here",
                    "please cancel my subscription and refund the last payment",
                    "the refund of ${amount} was promised ten days ago",
                    "how long does a refund to my card take", "I want my money back for order {order}"],
    },
    "other": {
        "subjects": ["Feature suggestion", "Partnership inquiry", "Question about your company",
                     "Feedback on {product}", "Do you offer student discounts?", "General question"],
        "phrases": ["it would be great to have a dark mode", "we would like to discuss a partnership",
                    "do you have an office in Berlin", "I love the {product}, keep it up",
                    "is there a discount for non-profits", "where can I find your privacy policy",
                    "I have a general question about your roadmap"],
    },
}
# How people describe problems with the new products: words the model has never seen.
_NEW_VOCAB = {
    "billing": ["my wallet top-up was deducted twice", "the QR payment shows a surcharge",
                "the wallet statement lists a fee I never agreed to"],
    "login": ["face unlock on the hub rejects me", "the pairing PIN is refused",
              "the companion passkey expired overnight"],
    "bug": ["the firmware bricks after pairing", "the night vision flickers", "the hub reboots in a loop"],
    "shipping": ["the tracker never left the warehouse", "the courier says the parcel is unscannable",
                 "the pre-order dispatch date keeps slipping"],
    "refund": ["please reverse the top-up", "I returned the cam, where is my reimbursement",
               "the pre-order deposit should come back to me"],
    "other": ["is there a developer programme for the hub", "do the cams work with solar panels",
              "can schools get the wallet for pupils"],
}
# Vague subjects and phrases shared by several categories: what makes real tickets hard.
_GENERIC_SUBJECTS = ["Help needed", "Urgent issue", "Problem with {product}", "Question about {product}",
                     "Re: your message", "Order {order}", "Account issue", "Still waiting for an answer"]
_SHARED = {
    "something is wrong with my account": ("billing", "login", "other"),
    "the {product} is not working as expected": ("bug", "login", "shipping"),
    "I need help with order {order}": ("shipping", "refund", "billing"),
    "I want to cancel": ("refund", "billing", "other"),
    "nobody answered my last email": ("refund", "shipping", "billing", "bug"),
    "the page just shows an error": ("bug", "login", "billing"),
    "I was promised a callback yesterday": ("refund", "other", "billing"),
}
_OPENERS = ["Hi team,", "Hello,", "Good morning,", "Hi there,", "Dear support,", "", ""]
_FILLERS = ["I have been a customer for three years.", "This is quite urgent for us.",
            "Thanks in advance for your help.", "I already tried restarting.",
            "Please get back to me soon.", "My colleague has the same issue.",
            "Let me know if you need more details.", "I am writing from my phone."]
_CLOSERS = ["Thanks,", "Best regards,", "Cheers,", "Kind regards,", ""]


def generate_tickets(
    n: int = 5000,
    *,
    seed: int = 0,
    start: str = "2026-01-01",
    days: float = 30.0,
    category_mix: Mapping[str, float] | None = None,
    new_product_share: float = 0.0,
    new_channel: str | None = None,
    new_channel_share: float = 0.3,
    label_noise: float = 0.03,
    mixed_share: float = 0.12,
    id_prefix: str = "T",
) -> Any:
    """Generate ``n`` support tickets as a DataFrame (seeded: same arguments, same tickets).

    Parameters
    ----------
    n : number of tickets
    seed : random seed
    start, days : tickets are created uniformly in ``[start, start + days)``, sorted by time
    category_mix : multiplies the base share of categories (e.g. ``{"bug": 3.0}``: a bug surge)
    new_product_share : share of tickets that mention products launched after training
        (vocabulary the model has never seen), replacing the usual product words
    new_channel, new_channel_share : a channel that did not exist at training time and its share
    label_noise : share of tickets whose recorded category is a random other category
        (default 3 %: agents do not always agree)
    mixed_share : share of tickets that also mention a second topic (hard, low-confidence cases)
    id_prefix : prefix of ``ticket_id`` (use different prefixes for different batches)

    Returns
    -------
    DataFrame with columns ``ticket_id, created_at, channel, tier, subject, body, category``.
    """
    import numpy as np
    import pandas as pd

    n = _check_count(n)
    for name, value in (("new_product_share", new_product_share), ("new_channel_share", new_channel_share),
                        ("label_noise", label_noise), ("mixed_share", mixed_share)):
        if not 0.0 <= float(value) <= 1.0:
            raise BadInput(f"{name} must be between 0 and 1, got {value!r}.")
    weights = dict(_MIX)
    for cat, factor in (category_mix or {}).items():
        if cat not in weights:
            raise BadInput(f"Unknown category {cat!r} in category_mix; categories: {', '.join(CATEGORIES)}.")
        if float(factor) < 0:
            raise BadInput(f"category_mix[{cat!r}] must be >= 0, got {factor!r}.")
        weights[cat] *= float(factor)
    try:
        t0 = pd.Timestamp(start)
    except (TypeError, ValueError):
        raise BadInput(f"start must be a date such as '2026-01-01', got {start!r}.") from None

    rng = np.random.default_rng(seed)
    channels = list(_CHANNEL_P)
    channel_p = np.array(list(_CHANNEL_P.values()))
    if new_channel:
        channels.append(str(new_channel))
        channel_p = np.append(channel_p * (1 - new_channel_share), new_channel_share)
    channel = rng.choice(channels, size=n, p=channel_p / channel_p.sum())
    tier = rng.choice(list(_TIER_P), size=n, p=np.array(list(_TIER_P.values())))

    cats = list(CATEGORIES)
    base = np.array([weights[c] for c in cats])
    p = np.array([[_TILT.get((ch, c), 1.0) * _TILT.get((t, c), 1.0) for c in cats]
                  for ch, t in zip(channel, tier)]).reshape(n, len(cats)) * base
    p /= p.sum(axis=1, keepdims=True)
    draws = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(0, len(cats) - 1)
    category = np.array(cats, dtype=object)[draws]

    subjects, bodies = [], []
    for i in range(n):
        new_product = rng.random() < new_product_share
        second = None
        if rng.random() < mixed_share:
            second = cats[rng.integers(len(cats))]
        subject, body = _write(rng, category[i], second, new_product)
        subjects.append(subject)
        bodies.append(body)

    label = category.copy()
    noisy = rng.random(n) < label_noise
    for row in np.flatnonzero(noisy):
        label[row] = rng.choice([c for c in cats if c != category[row]])

    seconds = np.sort(rng.uniform(0, float(days) * 86400.0, size=n))
    frame = pd.DataFrame({
        "ticket_id": [f"{id_prefix}{seed:03d}-{i:06d}" for i in range(n)],
        "created_at": t0 + pd.to_timedelta(seconds, unit="s"),
        "channel": channel.astype(str),
        "tier": tier.astype(str),
        "subject": subjects,
        "body": bodies,
        "category": label.astype(str),
    })
    frame["created_at"] = frame["created_at"].dt.floor("s")
    return frame


def _check_count(n: Any) -> int:
    try:
        value = int(n)
    except (TypeError, ValueError):
        raise BadInput(f"n must be a whole number of tickets, got {n!r}.") from None
    if value < 0 or value != n:
        raise BadInput(f"n must be a whole number >= 0, got {n!r}.")
    return value


def _fill(rng: Any, text: str, new_product: bool) -> str:
    products = NEW_PRODUCTS if new_product else _PRODUCTS
    return text.format(
        product=products[rng.integers(len(products))],
        order=f"#{rng.integers(10000, 99999)}",
        amount=f"{rng.integers(5, 400)}.{rng.integers(0, 99):02d}",
    )


def _write(rng: Any, category: str, second: str | None, new_product: bool) -> tuple[str, str]:
    vocab = _VOCAB[category]
    subjects = _GENERIC_SUBJECTS if rng.random() < (0.6 if new_product else 0.45) else vocab["subjects"]
    subject = _fill(rng, subjects[rng.integers(len(subjects))], new_product)
    k = int(rng.choice(3, p=(0.6, 0.3, 0.1) if new_product else (0.22, 0.58, 0.2)))
    pool = _NEW_VOCAB[category] if new_product and rng.random() < 0.7 else vocab["phrases"]
    k = max(k, 1) if pool is not vocab["phrases"] else k
    phrases = [_fill(rng, p, new_product) for p in rng.choice(pool, size=k, replace=False)]
    shared = [p for p, cats in _SHARED.items() if category in cats]
    for p in rng.choice(shared, size=int(rng.integers(1, 3)) if k else 2, replace=False):
        phrases.append(_fill(rng, p, new_product))
    if new_product:
        # A new product's tickets talk about the product more than about the problem.
        phrases.append(_fill(rng, "I have a problem with the {product}", True))
    if second is not None:
        extra = _VOCAB[second]["phrases"]
        phrases.insert(int(rng.integers(0, len(phrases) + 1)), _fill(rng, extra[rng.integers(len(extra))], new_product))
    sentences = [p[0].upper() + p[1:] + "." for p in phrases]
    sentences += list(rng.choice(_FILLERS, size=int(rng.integers(0, 3)), replace=False))
    rng.shuffle(sentences)
    body = " ".join(s for s in (_OPENERS[rng.integers(len(_OPENERS))], *sentences,
                                _CLOSERS[rng.integers(len(_CLOSERS))]) if s)
    return subject, body


# ------------------------------------------------------------------------------ daily partitions
def drifted_day(day: int, drift_from_day: int) -> dict[str, Any]:
    """The generator's knobs on day ``day`` (0-based): from ``drift_from_day`` on, over three days, a
    product launch (words the model never saw), a bug surge and a new WhatsApp channel ramp up."""
    ramp = min(1.0, (day - drift_from_day + 1) / 3) if day >= drift_from_day else 0.0
    return {"new_product_share": 0.6 * ramp, "category_mix": {"bug": 1 + 2 * ramp},
            "new_channel": "whatsapp" if ramp else None, "new_channel_share": 0.3 * ramp}


def write_days(folder: Any, *, days: int = 12, per_day: int = 300, start: str = "2026-02-01",
               drift_from_day: int = 5, seed: int = 1) -> list[str]:
    """Write the example's daily partitions under ``folder`` and return the dates written.

    ``date=YYYY-MM-DD/tickets.parquet`` holds the day's tickets as they arrive (``ticket_id``,
    ``created_at`` and the features; no category), and ``date=YYYY-MM-DD/resolved.parquet`` the
    previous day's tickets with the category they were resolved under: outcomes arrive a day late,
    so the last day has none yet. The world changes from ``drift_from_day`` (0-based; see
    :func:`drifted_day`). A day already written is left as it is: a partition's data must not
    change under the watermark that recorded it (seeded, so rewriting would give the same tickets).
    """
    from pathlib import Path

    import pandas as pd

    days, per_day = _check_count(days), _check_count(per_day)
    try:
        first = pd.Timestamp(start).normalize()
    except (TypeError, ValueError):
        raise BadInput(f"start must be a date such as '2026-02-01', got {start!r}.") from None
    root = Path(folder)
    dates = [first + pd.Timedelta(days=day) for day in range(days)]
    missing = [not (root / f"date={d:%Y-%m-%d}" / "tickets.parquet").exists() for d in dates] + [False]
    written, previous = [], None
    for day, date in enumerate(dates):
        if not (missing[day] or missing[day + 1]):  # neither this day nor the next needs its tickets
            previous = None
            continue
        batch = generate_tickets(per_day, seed=seed * 1000 + day, start=str(date), days=1,
                                 id_prefix=f"D{date:%m%d}-", **drifted_day(day, drift_from_day))
        part = root / f"date={date:%Y-%m-%d}"
        if missing[day]:
            part.mkdir(parents=True, exist_ok=True)
            if previous is not None:
                previous[["ticket_id", TARGET]].to_parquet(part / "resolved.parquet", index=False)
            # the day's tickets last, under their final name at once: a day with them is complete
            batch.drop(columns=[TARGET]).to_parquet(part / ".tickets.parquet.tmp", index=False)
            (part / ".tickets.parquet.tmp").replace(part / "tickets.parquet")
            written.append(f"{date:%Y-%m-%d}")
        previous = batch
    return written


# ------------------------------------------------------------------------------ edge cases
_SPANISH = ["No puedo iniciar sesión en mi cuenta", "Me cobraron dos veces este mes",
            "Mi pedido no ha llegado todavía", "Quiero un reembolso por favor",
            "La aplicación se cierra al abrirla"]
_SPANISH_CAT = ["login", "billing", "shipping", "refund", "bug"]


def edge_case_tickets(n: int = 40, *, seed: int = 0) -> dict[str, Any]:
    """Named edge cases for an evaluation suite: frames with the same columns as the tickets.

    ``empty_body``, ``very_long_body`` (the body repeated to ~5,000 characters), ``all_caps``,
    ``other_language`` (Spanish tickets, labelled with their true category) and ``mixed_topics``
    (every ticket mentions two categories; labelled with the first).
    """
    base = generate_tickets(n, seed=seed + 7919, mixed_share=0.0, id_prefix="E")
    cases: dict[str, Any] = {}
    empty = base.copy()
    empty["body"] = ""
    cases["empty_body"] = empty
    long = base.copy()
    long["body"] = long["body"].map(lambda b: (b + " ") * max(1, 5000 // max(len(b), 1)))
    cases["very_long_body"] = long
    caps = base.copy()
    caps["subject"] = caps["subject"].str.upper()
    caps["body"] = caps["body"].str.upper()
    cases["all_caps"] = caps
    other = base.copy()
    picks = [i % len(_SPANISH) for i in range(len(other))]
    other["subject"] = [_SPANISH[i] for i in picks]
    other["body"] = [_SPANISH[i] + ". Gracias." for i in picks]
    other["category"] = [_SPANISH_CAT[i] for i in picks]
    cases["other_language"] = other
    cases["mixed_topics"] = generate_tickets(n, seed=seed + 104729, mixed_share=1.0, id_prefix="M")
    return cases


def build_classifier(*, C: float = 4.0, max_features: int = 20000, seed: int = 0) -> Any:
    """The example model: TF-IDF of subject and body + one-hot channel and tier → logistic regression.

    Takes the :data:`FEATURES` columns of a ticket frame; unseen channels are ignored.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = ColumnTransformer([
        ("subject", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                    max_features=max_features), "subject"),
        ("body", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                 max_features=max_features), "body"),
        ("meta", OneHotEncoder(handle_unknown="ignore"), ["channel", "tier"]),
    ])
    return Pipeline([("features", features),
                     ("clf", LogisticRegression(C=C, solver="saga", max_iter=2000, random_state=seed))])
