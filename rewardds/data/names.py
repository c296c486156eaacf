"""Person names in the private records: the known name pools, and substituting detected names.

The PII reconstruction attack (:mod:`rewardds.eval.pii`) needs to know exactly
which spans of a record are person names, and which public list each name was
drawn from (its 63 decoy candidates come from the same list). Two pools exist:

* :func:`demo_pool`: the first and last names the demo generator
  (``rewardds/data/demo/people.py``) combines into the made-up people of
  every medical and financial private record. Read from the generator itself,
  so the two can never drift apart.
* :func:`faker_pool`: the public en_US first and last name lists of the
  ``faker`` package. Real records get their names from it by substitution.

A name of a pool is a full name ``"First Last"`` with ``First`` in the pool's
first names and ``Last`` in its last names (:meth:`NamePool.find`).

Substitution (real data, ``task.data.substitute_names=true``), as in Lukas et
al. (2023): a detected name is replaced by a generated one, so the records
hold names whose spans are known exactly. Detection is a simple, documented
rule, not a NER model (:func:`detect_names`): one or two capitalised words after
a self-introduction cue ("my name is", "I am", "I'm", "this is", "call me", a
greeting with a comma: "Hello, Anna Berg from account ..."), after
a title ("Dr", "Dr.", "Doctor", "Mr", "Mrs", "Ms", "Miss"), or two capitalised
words before "here" at the start of a sentence ("Anna Berg here, ..."); and,
without a cue, any two capitalised words that are a first and a last name of
faker's lists ("Jennifer Duffy"), so that no name of the substitution pool is
left in the records that was not generated (the attack's targets are exactly
the generated names). A word
counts as part of a name when it is not in :data:`STOPWORDS` and either is in
faker's name lists or is never written in lower case in the records processed
(so "I am Suffering" is not a name: "suffering" is an ordinary word there).
Records without a detectable name are left as they are; they are no PII
targets. A name found after a self-introduction becomes a full generated name
(first and last); after a title, one word becomes a last name and two words a
full name. Every whole-word occurrence of a detected word elsewhere in the
record (question or answer) is replaced by the same generated word, so a
record stays consistent ("My name is Anna ... thanks, Anna").

The map from original to generated names is client-only private data: it is
kept in memory (:class:`NameMap`, whose ``repr`` shows no name and which is not
JSON-serialisable) and never logged or written.
"""
from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from rewardds.data.demo import people as demo_people
from rewardds.records import Record

__all__ = ["NamePool", "NameMap", "demo_pool", "faker_pool", "known_pools", "detect_names", "substitute_names"]


# A capitalised word: an upper-case letter, then at least one lower-case letter.
_WORD = r"[A-Z][a-z]+(?:['\u2019-][A-Z]?[a-z]+)?"
_PAIR = re.compile(rf"(?<![\w'\u2019-])(?=({_WORD}) ({_WORD})(?![\w'\u2019-]))")
_SPAN = rf"({_WORD})(?:[ \t]+({_WORD}))?(?![\w'\u2019-])"
_INTRO = re.compile(rf"\b(?:[Mm]y name is|[Mm]y name's|I am|I'm|I\u2019m|i am|[Tt]his is|[Cc]all me|Hello,|Hi,)[ \t]+{_SPAN}")
_TITLE = re.compile(rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Doctor)\.?[ \t]+{_SPAN}")
_HERE = re.compile(rf"(?:^|(?<=[.!?])\s+)({_WORD})[ \t]+({_WORD}) here\b")
_LOWER = re.compile(r"\b[a-z]+\b")

# Capitalised words that follow the cues above without being names (checked case-sensitively).
STOPWORDS = frozenset("""
A An The This That These Those It Its I Im My Me Mine We Our You Your He His She Her They Their Them
Am Is Are Was Were Be Been Being Have Has Had Do Does Did Not No Yes And Or But If So Also Just Very
Please Thanks Thank Hello Hi Hey Dear Sir Madam Mam Maam Doctor Doc Dr Mr Mrs Ms Miss Chat Patient
Male Female Man Woman Boy Girl Mother Father Son Daughter Wife Husband Baby Child Friend
Indian American British English Asian African European Muslim Hindu Christian Arab Chinese
January February March April May June July August September October November December
Monday Tuesday Wednesday Thursday Friday Saturday Sunday Today Yesterday Tomorrow Now Here There
Currently Recently Suffering Having Feeling Getting Taking Trying Looking Writing Asking Worried Normal
Diabetic Pregnant Healthy Sick Sorry Okay Ok Good Fine Well New Old Young Sure Still Again Since
Hospital Clinic Forum Health Medical Medicine Infectious Disease Sleep
""".split())


@dataclass(frozen=True)
class NamePool:
    """A public list of first and last names; its full names are ``"First Last"`` pairs."""

    name: str
    first: tuple[str, ...]
    last: tuple[str, ...]

    @cached_property
    def _first(self) -> frozenset:
        return frozenset(self.first)

    @cached_property
    def _last(self) -> frozenset:
        return frozenset(self.last)

    @property
    def size(self) -> int:
        return len(self.first) * len(self.last)

    def __contains__(self, full: str) -> bool:
        first, _, last = full.partition(" ")
        return first in self._first and last in self._last

    def find(self, text: str) -> list[str]:
        """The distinct full names of this pool in ``text``, in order of first appearance
        (overlapping pairs are tried, so "Hello Marcus Rasmussen" finds "Marcus Rasmussen")."""
        out: list[str] = []
        for m in _PAIR.finditer(text):
            full = f"{m.group(1)} {m.group(2)}"
            if full in self and full not in out:
                out.append(full)
        return out

    def draw(self, rng: random.Random, k: int, exclude=()) -> list[str]:
        """``k`` distinct full names of the pool, none in ``exclude``, uniformly at random."""
        exclude = set(exclude)
        if self.size - len(exclude) < k:
            raise ValueError(f"name pool {self.name!r} has {self.size} names, cannot draw {k} distinct others")
        out: list[str] = []
        seen = set(exclude)
        while len(out) < k:
            full = f"{rng.choice(self.first)} {rng.choice(self.last)}"
            if full not in seen:
                seen.add(full)
                out.append(full)
        return out


@lru_cache(maxsize=1)
def demo_pool() -> NamePool:
    """The demo generator's own name lists (``people.FIRST_NAMES`` x ``LAST_NAMES``)."""
    return NamePool("demo", tuple(demo_people.FIRST_NAMES), tuple(demo_people.LAST_NAMES))


@lru_cache(maxsize=1)
def faker_pool() -> NamePool:
    """faker's public en_US first names (female and male) and last names, sorted, without repeats.

    The lists are read from faker's provider directly, so draws depend on our own
    seeded ``random.Random`` only (uniform over the lists, not faker's weights).
    """
    from faker.providers.person.en_US import Provider

    return NamePool("faker-en_US", tuple(sorted(set(Provider.first_names))), tuple(sorted(set(Provider.last_names))))


def known_pools() -> tuple[NamePool, ...]:
    """The pools names are looked up in, in order: the demo's, then the substitution pool."""
    return demo_pool(), faker_pool()


# ------------------------------------------------------------------ detection


@dataclass(frozen=True)
class DetectedName:
    """One detected name span: ``words`` (1 or 2) at ``start:end`` of the text; ``person``
    True after a self-introduction (replaced by a full name), False after a title."""

    start: int
    end: int
    words: tuple[str, ...]
    person: bool


def _lower_vocabulary(records) -> frozenset:
    return frozenset(w for r in records for t in (r.question, r.answer) for w in _LOWER.findall(t))


def _is_name_word(word: str, vocabulary: frozenset) -> bool:
    if word in STOPWORDS:
        return False
    pool = faker_pool()
    return word in pool._first or word in pool._last or word.lower() not in vocabulary


def detect_names(text: str, vocabulary: frozenset = frozenset()) -> list[DetectedName]:
    """The name spans of ``text`` by the rule of this module's docstring, left to right,
    non-overlapping. ``vocabulary``: words seen in lower case (ordinary words)."""
    found: list[DetectedName] = []
    for pattern, person in ((_INTRO, True), (_HERE, True), (_TITLE, False)):
        for m in pattern.finditer(text):
            words = []
            for g in (1, 2):
                w = m.group(g)
                if w is None or not _is_name_word(w, vocabulary):
                    break
                words.append(w)
            if not words:
                continue
            start = m.start(1)
            end = m.end(len(words))
            if any(start < d.end and d.start < end for d in found):
                continue
            found.append(DetectedName(start, end, tuple(words), person))
    pool = faker_pool()
    for m in _PAIR.finditer(text):  # a full name of faker's lists, cue or not ("Jennifer Duffy")
        start, end = m.start(1), m.end(2)
        if f"{m.group(1)} {m.group(2)}" in pool and not any(start < d.end and d.start < end for d in found):
            found.append(DetectedName(start, end, (m.group(1), m.group(2)), True))
    return sorted(found, key=lambda d: d.start)


# --------------------------------------------------------------- substitution


class NameMap:
    """Client-only map: record id -> [(original name, generated name), ...].

    Private data: its ``repr`` shows only the number of records, it is not
    JSON-serialisable, and nothing in rewardds writes or logs it. Use
    :meth:`pairs` on the client to see what a record's names became.
    """

    def __init__(self) -> None:
        self._pairs: dict[str, list[tuple[str, str]]] = {}

    def add(self, record_id: str, original: str, generated: str) -> None:
        pairs = self._pairs.setdefault(record_id, [])
        if (original, generated) not in pairs:
            pairs.append((original, generated))

    def pairs(self, record_id: str) -> list[tuple[str, str]]:
        return list(self._pairs.get(record_id, ()))

    def record_ids(self) -> list[str]:
        return list(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __contains__(self, record_id) -> bool:
        return record_id in self._pairs

    def __repr__(self) -> str:
        return f"NameMap(<{len(self._pairs)} records, private: not shown>)"

    __str__ = __repr__


def _new_word(rng: random.Random, names: tuple[str, ...], taken: set) -> str:
    """A generated word no other name of the record uses (original or generated)."""
    while True:
        w = rng.choice(names)
        if w not in taken:
            taken.add(w)
            return w


def _record_plan(texts: list[str], rng: random.Random, vocabulary: frozenset):
    """Per text its detected spans with their replacements, and the word map of the record.

    A person's span becomes first + last name (a one-word span gets a generated
    last name too), a title's one-word span a last name; a word already mapped
    in the record keeps its replacement, the same span always gets the same name.
    """
    pool = faker_pool()
    spans = [detect_names(t, vocabulary) for t in texts]
    words: dict[str, str] = {}
    full: dict[tuple[str, ...], str] = {}
    taken = {w for per in spans for d in per for w in d.words}
    span_new: list[list[tuple[DetectedName, str]]] = []
    for per in spans:
        out = []
        for d in per:
            if d.words not in full:
                lists = (pool.first, pool.last) if d.person or len(d.words) == 2 else (pool.last,)
                new = []
                for i, names in enumerate(lists):
                    orig = d.words[i] if i < len(d.words) else None
                    if orig is not None and orig in words:
                        new.append(words[orig])
                        continue
                    new.append(_new_word(rng, names, taken))
                    if orig is not None:
                        words[orig] = new[-1]
                full[d.words] = " ".join(new)
            out.append((d, full[d.words]))
        span_new.append(out)
    return span_new, words


def _apply(text: str, spans: list[tuple[DetectedName, str]], words: dict[str, str]) -> str:
    """``text`` with each detected span replaced, then every other whole-word occurrence of a
    detected word; one pass over the original text, so a generated name is never replaced again."""
    cuts = [(d.start, d.end, new) for d, new in spans]
    if words:
        alt = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        for m in re.finditer(rf"(?<![\w'\u2019-])(?:{alt})(?![\w'\u2019-])", text):
            if not any(m.start() < e and s < m.end() for s, e, _ in cuts):
                cuts.append((m.start(), m.end(), words[m.group(0)]))
    out, pos = [], 0
    for s, e, new in sorted(cuts):
        out += [text[pos:s], new]
        pos = e
    return "".join(out + [text[pos:]])


def substitute_names(records: list[Record], seed: int,
                     vocabulary: frozenset | None = None) -> tuple[list[Record], NameMap]:
    """Records with every detected name replaced by a generated faker name, and the client-only map.

    Deterministic: record ``r`` draws from ``random.Random(f"rewardds-names-{seed}-{r.id}")``.
    ``vocabulary`` (words seen in lower case) defaults to that of ``records``
    themselves; it is computed in memory on the client and used only for detection.
    Records without a detected name are returned unchanged (the same objects).
    """
    vocab = _lower_vocabulary(records) if vocabulary is None else vocabulary
    out: list[Record] = []
    name_map = NameMap()
    for r in records:
        rng = random.Random(f"rewardds-names-{seed}-{r.id}")
        texts = [r.question, r.answer]
        span_new, words = _record_plan(texts, rng, vocab)
        if not words:
            out.append(r)
            continue
        question, answer = (_apply(t, s, words) for t, s in zip(texts, span_new))
        for per in span_new:
            for d, new in per:
                name_map.add(r.id, " ".join(d.words), new)
        out.append(dataclasses.replace(r, question=question, answer=answer))
    return out, name_map
