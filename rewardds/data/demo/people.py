"""Made-up people and record identifiers of the demo corpora, and a shared text helper.

Every person named in a private or test record is drawn, without repetition, from the
first x last name lists below: the PII reconstruction attack (rewardds/eval/pii.py)
needs the set of names to be known exactly.
"""
from __future__ import annotations

FIRST_NAMES = [
    "Elena", "Marcus", "Priya", "Tomas", "Ingrid", "Darnell", "Yuki", "Fatima", "Oskar", "Leila",
    "Rowan", "Beatriz", "Kofi", "Annika", "Dmitri", "Carmen", "Henrik", "Amara", "Lucian", "Noor",
    "Vera", "Emeka", "Sofia", "Callum", "Mei", "Rafael", "Greta", "Idris", "Helena", "Jonas",
    "Zainab", "Matteo", "Astrid", "Kwame", "Lorena", "Felix", "Aiko", "Tobias", "Nadia", "Bruno",
    "Ottilie", "Ravi", "Selma", "Caspian", "Imani", "Linnea", "Bastian", "Odile", "Tariq", "Wren",
    "Anouk", "Cyrus", "Esme", "Florian", "Ines", "Jasper", "Keziah", "Leopold", "Maren", "Nikolai",
]
LAST_NAMES = [
    "Marsh", "Okafor", "Lindqvist", "Varga", "Castellano", "Whitfield", "Nakamura", "Haddad", "Brennan",
    "Kowalczyk", "Delacroix", "Ashworth", "Moreau", "Petrov", "Quintero", "Halloran", "Sato", "Adeyemi",
    "Fairbanks", "Rasmussen", "Thornbury", "Oyelaran", "Vasquez", "Eriksen", "Galloway", "Demir", "Pellegrini",
    "Strand", "Mbeki", "Holloway", "Farrow", "Iwasaki", "Lockhart", "Renner", "Szabo", "Calloway",
    "Abernathy", "Kristiansen", "Montague", "Oduya", "Pemberton", "Saarinen", "Tremblay", "Uchida",
    "Valdivia", "Winslow", "Yilmaz", "Zelenko", "Bramwell", "Cordeiro",
]


def people(rng, n: int) -> list[str]:
    """``n`` distinct "First Last" names in a seeded order."""
    pairs = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
    if n > len(pairs):
        raise ValueError(f"{n} people asked for, only {len(pairs)} name pairs")
    return rng.sample(pairs, n)


def account_numbers(rng):
    """An endless stream of distinct made-up account numbers."""
    seen: set[str] = set()
    while True:
        acct = rng.choice(["{}-{}-{}", "AC{}{}{}"]).format(rng.randint(1000, 9999), rng.randint(1000, 9999),
                                                            rng.randint(1000, 9999))
        if acct not in seen:
            seen.add(acct)
            yield acct


def ticket_ids(rng):
    """An endless stream of distinct made-up ticket ids (the code corpus's individual detail)."""
    seen: set[str] = set()
    while True:
        tkt = f"{rng.choice(['FIN', 'LDG', 'OPS', 'ACC'])}-{rng.randint(1000, 99999)}"
        if tkt not in seen:
            seen.add(tkt)
            yield tkt


def fit_parts(parts: list[tuple[int, str]], limit: int) -> str:
    """Join (priority, text) parts, dropping the lowest-priority ones (later first) until the text
    is at most ``limit`` characters."""
    parts = list(parts)
    while len(" ".join(t for _, t in parts)) > limit and len(parts) > 1:
        low = min(range(len(parts)), key=lambda i: (parts[i][0], -i))
        del parts[low]
    return " ".join(t for _, t in parts)
