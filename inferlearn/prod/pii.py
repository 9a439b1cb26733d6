"""PII detection and redaction before anything is logged or sent to a model.

Presidio's analyzer on spaCy's ``en_core_web_sm`` (a pinned model file, see
``inferlearn/server/modelfiles.py``), with recognizers of our own for Larkspur account ids
(``ACC-`` + 6 digits), card numbers that pass the Luhn check and IBANs that pass the ISO 13616
mod-97 check. Everything runs offline: tldextract (which presidio's email recognizer uses) reads
its bundled public-suffix snapshot instead of fetching the list.

Introduced in ``phase4_production/04_pii.ipynb``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from inferlearn.server.modelfiles import SPACY_MODEL, model_path

# Entity types we report, as names a reader of a log understands.
# Dates are not redacted: a support ticket's dates are the facts the assistant needs.
ENTITY_TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "ACCOUNT_ID",
                "IP_ADDRESS", "LOCATION", "US_SSN", "NRP", "URL", "US_DRIVER_LICENSE")
DEFAULT_THRESHOLD = 0.35
# Presidio's own recognizers we replace (CreditCard, Iban) or that add noise in support mail.
_DROPPED = {"CreditCardRecognizer", "IbanRecognizer", "EmailRecognizer", "PhoneRecognizer", "MedicalLicenseRecognizer", "UsBankRecognizer",
            "UsItinRecognizer", "UsPassportRecognizer", "CryptoRecognizer"}

_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "BR", "NL", "PT", "ES", "IT", "SE", "NO", "DK",
                  "FI", "IE", "BE", "CH", "AT", "PL", "TR", "SG", "JP", "AU", "HR", "EE", "IS")
_STREET_WORDS = (r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|"
                 r"Way|Court|Ct\.?|Place|Pl\.?|Square|Terrace|Highway|Parkway|Circle|Crescent|Close|Row|"
                 r"Forks?|Club|Hill|Park|Gardens?|Mews)")
_STREET_PREFIX = r"(?:Rua|Rue|Via|Vicolo|Viale|Calle|Avenida|Avda\.|ul\.|Carrer|Piazza|Corso|Largo|Travessa)"
_STREET_SUFFIX = r"[\w\u00c0-\u024f]*(?:gate|gaten|vegur|tun|stræti|straat|strasse|straße|gatan|gata|vej|veien|vegen|tie|katu|gade|weg|laan|plein|gränd|väg|vägen|stræde|allé|utca|ulica|cesta)"
_STREET = (rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]*\s+){{0,3}}{_STREET_WORDS}\b"
           rf"|\b{_STREET_PREFIX}\s+(?:[\w\u00c0-\u024f'.-]+\s+){{0,4}}?\d{{1,5}}[A-Za-z]?\b"
           rf"|\b[A-Z]{_STREET_SUFFIX}\s+\d{{1,5}}[A-Za-z]?\b")
_WORD = r"[A-Z0-9][\w\u00c0-\u024f.'-]*"
_HOUSE_NUMBERS = re.compile(r"(?<![\w-])\d{1,5}(?:[ \t]+\d{1,5})?[ \t]+$")
_POSTCODE_AFTER = re.compile(r"[ \t]*\n?[ \t]+\d{3,5}(?:-\d{3,4})?(?![\w-])")
_ADDRESS_TAIL = re.compile(rf"(?:[ \t]*[,\n][ \t,]*\n?[ \t,]*{_WORD}(?:[ \t]+{_WORD}){{0,3}}){{1,4}}")
_ADDRESS_GAP = re.compile(r"(?:[ \t]*[,\n][\s,]*)?")
_UNIT = r"\b(?:Suite|Apt\.?|Unit|Box|Flat|PO Box|P\.O\. Box|Postbox)\s+\d{1,5}\b"
# US military mail (PSC/Unit/CMR + Box, then APO/FPO/DPO and a ZIP) and numbered European streets
# ("79367 Nybyvägen 65", "0269 Stensås terrasse 38": a number, one to three words, a number).
_MILITARY = (r"\b(?:(?:PSC|Unit|CMR)\s+\d{3,5},?\s+Box\s+\d{3,5}|(?:USNS|USS|USCGC)\s+[A-Z][\w\u00c0-\u024f'-]+)"
             r"\s+[ADF]PO\s+A[AEP]\s+\d{5}\b")
_NUMBERED = (r"\b\d{1,5}\s+(?:\d{1,5}\s+)?[A-Z\u00c0-\u00de][a-z\u00df-\u024f][\w\u00c0-\u024f'.-]*"
             r"(?:[ \t]+[\w\u00c0-\u024f'.-]+){0,2}[ \t]+\d{1,4}[A-Za-z]?\b")
_CORNER = r"\bcorner of\s+(?:[^\s,]+\s+){1,5}?and\s+[^\s,.]+(?:[ \t]+[A-Z][^\s,.]*){0,3}"
_POSTCODE_UK = r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b"


@dataclass
class Redaction:
    """A redacted text and what was found: ``entities`` are ``(type, start, end)`` in the original."""

    text: str
    entities: list[tuple[str, int, int]] = field(default_factory=list)
    original_length: int = 0


def luhn_valid(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn checksum (card numbers); 04_pii."""
    digits = [int(c) for c in number if c.isdigit()]
    if not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) passes the ISO 13616 mod-97 check; 04_pii."""
    compact = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _recognizers(words: frozenset[str]) -> list[Any]:
    from presidio_analyzer import Pattern, PatternRecognizer

    from inferlearn.prod.pii_lexical import PlaceRecognizer, ProperNounRecognizer

    class LuhnCardRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return luhn_valid(pattern_text)

    class Mod97IbanRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return iban_valid(pattern_text)

    card = LuhnCardRecognizer(
        supported_entity="CREDIT_CARD", name="LuhnCardRecognizer",
        patterns=[Pattern("card", r"\b(?:\d[ -]?){11,18}\d\b", 0.5)],
        context=["card", "visa", "mastercard", "amex", "credit", "debit"])
    iban = Mod97IbanRecognizer(
        supported_entity="IBAN_CODE", name="Mod97IbanRecognizer",
        patterns=[Pattern("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", 0.6)],
        context=["iban", "bank", "transfer", "account"])
    account = PatternRecognizer(
        supported_entity="ACCOUNT_ID", name="LarkspurAccountRecognizer",
        patterns=[Pattern("account id", r"\bACC-\d{6}\b", 0.9)])
    email = PatternRecognizer(
        supported_entity="EMAIL_ADDRESS", name="EmailRecognizer",
        patterns=[Pattern("email", r"\b[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b", 0.9)])
    phone = PatternRecognizer(
        supported_entity="PHONE_NUMBER", name="LoosePhoneRecognizer",
        patterns=[Pattern("international", r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}\d(?!\w)", 0.7),
                  Pattern("grouped", r"(?<![\w-])(?=(?:[ .()-]*\d){7,12}(?![\w-]))\(?0?\d{2,5}\)?(?:[ .-]\d{2,4}){1,4}(?![\w-])", 0.3)],
        context=["phone", "call", "tel", "mobile", "cell", "number", "reach", "contact", "fax", "whatsapp"])
    countries = PatternRecognizer(supported_entity="LOCATION", name="CountryRecognizer",
                                  deny_list=_country_names(), deny_list_score=0.6)
    return [card, iban, account, email, phone, countries, _phone_numbers(), PlaceRecognizer(words), ProperNounRecognizer(words),
            *_address_recognizers()]


def _address_recognizers() -> list[Any]:
    from presidio_analyzer import Pattern, PatternRecognizer

    address = PatternRecognizer(
        supported_entity="LOCATION", name="StreetAddressRecognizer",
        patterns=[Pattern("street", _STREET, 0.9), Pattern("unit", _UNIT, 0.9)])
    # Case matters for these (capitalised street names, upper-case APO/DPO and UK postcodes).
    written = PatternRecognizer(
        supported_entity="LOCATION", name="WrittenAddressRecognizer", global_regex_flags=re.MULTILINE,
        patterns=[Pattern("military", _MILITARY, 0.9), Pattern("numbered street", _NUMBERED, 0.5),
                  Pattern("corner", _CORNER, 0.6), Pattern("uk postcode", _POSTCODE_UK, 0.5)])
    postcode = PatternRecognizer(
        supported_entity="LOCATION", name="PostcodeRecognizer",
        patterns=[Pattern("postcode", r"\b\d{4,5}(?:-\d{4})?\b", 0.05)],
        context=["zip", "postcode", "postal", "post code"])
    return [address, written, postcode]


def _country_names() -> list[str]:
    from babel import Locale

    names = Locale("en").territories
    return sorted(name for code, name in names.items() if code.isalpha() and len(code) == 2)


def _extend_addresses(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Grow each LOCATION span over the house numbers just before it and the address lines after
    it (city, postcode, country), never into a neighbour; ``spans`` are sorted and disjoint."""
    out: list[tuple[str, int, int]] = []
    for i, (kind, start, end) in enumerate(spans):
        if kind == "LOCATION":
            floor = out[-1][2] if out else 0
            if (before := _HOUSE_NUMBERS.search(text, floor, start)) and before.end() == start:
                start = before.start()
            limit = spans[i + 1][1] if i + 1 < len(spans) else len(text)
            if match := _ADDRESS_TAIL.match(text, end):
                end = max(end, min(match.end(), limit))
            if (code := _POSTCODE_AFTER.match(text, end)) and code.end() <= limit:
                end = code.end()
        out.append((kind, start, end))
    return out


def _phone_numbers() -> Any:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    return PhoneRecognizer(supported_regions=_PHONE_REGIONS, leniency=1)


def _offline_tldextract() -> None:
    """Point tldextract's module-level extractor at its bundled snapshot (no network)."""
    import tldextract
    import tldextract.tldextract as impl

    if impl.TLD_EXTRACTOR.suffix_list_urls:
        impl.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1)
def get_analyzer() -> Any:
    """Presidio ``AnalyzerEngine`` on the pinned spaCy model, built once per process; 04_pii."""
    import logging

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    _offline_tldextract()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    folder = model_path(f"{SPACY_MODEL}/config.cfg").parent
    nlp_engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(folder)}],
    }).create_engine()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    for name in _DROPPED:
        if any(r.name == name for r in registry.recognizers):
            registry.remove_recognizer(name)
    from inferlearn.prod.pii_lexical import english_words

    for recognizer in _recognizers(english_words(nlp_engine.nlp["en"])):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def detect(text: str, threshold: float = DEFAULT_THRESHOLD,
           entities: tuple[str, ...] = ENTITY_TYPES) -> list[tuple[str, int, int]]:
    """PII spans in ``text`` as ``(type, start, end)``, overlaps resolved; 04_pii."""
    return resolve_spans(text, scored_spans(text, entities), threshold)


def scored_spans(text: str, entities: tuple[str, ...] = ENTITY_TYPES) -> list[tuple[str, int, int, float]]:
    """Every recognizer's raw ``(type, start, end, score)`` for ``text``, before any threshold."""
    if not isinstance(text, str):
        raise TypeError(f"detect() needs a str, got {type(text).__name__}")
    if not text.strip():
        return []
    results = get_analyzer().analyze(text=text, language="en", entities=list(entities), score_threshold=0.0)
    return [(r.entity_type, r.start, r.end, r.score) for r in results]


def resolve_spans(text: str, scored: list[tuple[str, int, int, float]],
                  threshold: float = DEFAULT_THRESHOLD) -> list[tuple[str, int, int]]:
    """Keep spans scoring at least ``threshold``; of overlapping ones the highest score (then the
    longest) wins; LOCATION spans then grow over the address lines that follow them."""
    ranked = sorted((s for s in scored if s[3] >= threshold), key=lambda s: (-s[3], -(s[2] - s[1]), s[1]))
    kept: list[tuple[str, int, int]] = []
    for kind, start, end, _ in ranked:
        overlapping = [i for i, (_, s, e) in enumerate(kept) if start < e and end > s]
        if not overlapping:
            kept.append((kind, start, end))
        elif kind == "LOCATION":  # an address pattern: the winner covers its whole extent
            for i in overlapping:
                k, s, e = kept[i]
                kept[i] = (k, min(s, start), max(e, end))
        elif (head := min(kept[i][1] for i in overlapping)) > start and text[start:head].strip():
            kept.append((kind, start, start + len(text[start:head].rstrip())))  # the part before
    return _join_address_lines(text, _extend_addresses(text, _merge_overlaps(sorted(kept, key=lambda s: s[1]))))


def _join_address_lines(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """A LOCATION followed, across a comma or a line break only, by a PERSON or LOCATION span is one
    address: the NER model often takes a town on its own line for a person."""
    out: list[tuple[str, int, int]] = []
    for kind, start, end in spans:
        if (out and out[-1][0] == "LOCATION" and kind in ("LOCATION", "PERSON")
                and _ADDRESS_GAP.fullmatch(text, out[-1][2], start)):
            out[-1] = ("LOCATION", out[-1][1], end)
        else:
            out.append((kind, start, end))
    return out


def _merge_overlaps(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Sorted spans with any that grew into each other joined (the first one's type)."""
    out: list[tuple[str, int, int]] = []
    for kind, start, end in spans:
        if out and start < out[-1][2]:
            out[-1] = (out[-1][0], out[-1][1], max(out[-1][2], end))
        else:
            out.append((kind, start, end))
    return out


def redact(text: str, threshold: float = DEFAULT_THRESHOLD) -> Redaction:
    """Replace every PII span with ``<TYPE>``; introduced in 04_pii.

    >>> redact("Mail ana@example.com about ACC-123456").text
    'Mail <EMAIL_ADDRESS> about <ACCOUNT_ID>'
    """
    entities = detect(text, threshold)
    out, last = [], 0
    for kind, start, end in entities:
        out.append(text[last:start])
        out.append(f"<{kind}>")
        last = end
    out.append(text[last:])
    return Redaction(text="".join(out), entities=entities, original_length=len(text))
