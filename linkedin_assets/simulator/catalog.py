"""The member-demographic value universes the simulator emits, and their display names.

Values are fixed (independent of the seed), like LinkedIn's standardized data: the same URN always has the
same name. A small, deterministic share of URNs has no name, as some values in ``adTargetingEntities`` do.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = ["Facet", "UNIVERSES", "resolve"]


@dataclass(frozen=True)
class Facet:
    """One ``MEMBER_*`` pivot's value universe."""

    pivot: str
    facet_urn: str
    values: tuple[str, ...]
    names: tuple[str, ...]


_SENIORITIES = ("Unpaid", "Training", "Entry", "Senior", "Manager", "Director", "VP", "CXO", "Partner", "Owner")
_COMPANY_SIZES = (
    "SIZE_1",
    "SIZE_2_TO_10",
    "SIZE_11_TO_50",
    "SIZE_51_TO_200",
    "SIZE_201_TO_500",
    "SIZE_501_TO_1000",
    "SIZE_1001_TO_5000",
    "SIZE_5001_TO_10000",
    "SIZE_10001_OR_MORE",
)
_FUNCTIONS = (
    "Accounting", "Administrative", "Arts and Design", "Business Development", "Community and Social Services",
    "Consulting", "Education", "Engineering", "Entrepreneurship", "Finance", "Healthcare Services",
    "Human Resources", "Information Technology", "Legal", "Marketing", "Media and Communication",
    "Military and Protective Services", "Operations", "Product Management", "Program and Project Management",
    "Purchasing", "Quality Assurance", "Real Estate", "Research", "Sales", "Customer Success and Support",
)  # fmt: skip
_COUNTRIES = (
    (103644278, "United States"), (101165590, "United Kingdom"), (101282230, "Germany"), (105015875, "France"),
    (101174742, "Canada"), (101452733, "Australia"), (102890719, "Netherlands"), (105646813, "Spain"),
    (103350119, "Italy"), (102713980, "India"), (106057199, "Brazil"), (105117694, "Sweden"),
    (104514075, "Denmark"), (103819153, "Norway"), (100456013, "Finland"), (100565514, "Belgium"),
    (106693272, "Switzerland"), (103883259, "Austria"), (104738515, "Ireland"), (105072130, "Poland"),
    (100364837, "Portugal"), (102105699, "Türkiye"), (101355337, "Japan"), (102454443, "Singapore"),
    (105490917, "South Korea"), (103323778, "Mexico"), (100876405, "Colombia"), (104621616, "Chile"),
    (100446943, "Argentina"), (104305776, "United Arab Emirates"), (100459316, "Saudi Arabia"),
    (101620260, "Israel"), (104035573, "South Africa"), (105365761, "Nigeria"), (106155005, "Egypt"),
    (105149562, "New Zealand"), (102478259, "Indonesia"), (106808692, "Malaysia"), (103121230, "Philippines"),
    (104195383, "Czechia"),
)  # fmt: skip
_REGIONS = (
    "California, United States", "Texas, United States", "New York, United States", "Florida, United States",
    "Illinois, United States", "Washington, United States", "Massachusetts, United States", "Georgia, United States",
    "Ontario, Canada", "Quebec, Canada", "British Columbia, Canada", "Bavaria, Germany", "Berlin, Germany",
    "Île-de-France, France", "Greater London, United Kingdom", "Greater Manchester, United Kingdom",
    "Catalonia, Spain", "Community of Madrid, Spain", "Lombardy, Italy", "North Holland, Netherlands",
    "Maharashtra, India", "Karnataka, India", "São Paulo, Brazil", "New South Wales, Australia",
    "Victoria, Australia", "Stockholm County, Sweden", "Zurich, Switzerland", "County Dublin, Ireland",
    "Masovian Voivodeship, Poland", "Lisbon, Portugal", "Tokyo, Japan", "Seoul, South Korea", "Dubai, United Arab Emirates",
)  # fmt: skip
_INDUSTRY_WORDS = (
    "Software Development", "IT Services and IT Consulting", "Financial Services", "Banking", "Insurance",
    "Hospitals and Health Care", "Pharmaceutical Manufacturing", "Retail", "Higher Education", "Construction",
    "Real Estate", "Telecommunications", "Advertising Services", "Manufacturing", "Government Administration",
    "Non-profit Organizations", "Oil and Gas", "Utilities", "Automotive", "Airlines and Aviation",
    "Food and Beverage Services", "Hospitality", "Legal Services", "Accounting", "Staffing and Recruiting",
    "Biotechnology Research", "Computer Hardware Manufacturing", "Semiconductor Manufacturing",
    "Transportation, Logistics, Supply Chain and Storage", "Wholesale", "Media Production", "Book and Periodical Publishing",
    "Market Research", "Business Consulting and Services", "Venture Capital and Private Equity Principals",
    "Investment Management", "Renewable Energy Power Generation", "Chemical Manufacturing", "E-Learning Providers",
    "Computer and Network Security",
)  # fmt: skip
_TITLE_LEFT = (
    "Software", "Data", "Marketing", "Sales", "Product", "Account", "Finance", "Operations", "HR", "Security",
    "Cloud", "Customer Success", "Growth", "Brand", "Content", "Research", "Business", "Project", "IT", "Supply Chain",
)  # fmt: skip
_TITLE_RIGHT = ("Engineer", "Manager", "Director", "Analyst", "Specialist", "Lead", "Consultant", "Architect",
                "Coordinator", "Executive", "Scientist", "Officer", "Associate", "Strategist", "Administrator")  # fmt: skip
_COMPANY_LEFT = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Hooli",
    "Vandelay", "Wonka", "Aperture", "Massive", "Nakatomi", "Oscorp", "Pied Piper", "Gringotts", "Monarch", "Dunder",
)  # fmt: skip
_COMPANY_RIGHT = ("Systems", "Industries", "Labs", "Analytics", "Holdings", "Group", "Software", "Partners",
                  "Logistics", "Health", "Capital", "Energy", "Media", "Robotics", "Foods", "Bank", "Networks",
                  "Consulting", "Motors", "Pharma")  # fmt: skip


def _ids(start: int, count: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(int(x) for x in rng.choice(np.arange(start, start + count * 40), size=count, replace=False))


@cache
def _universes() -> dict[str, Facet]:
    regions = list(_REGIONS)
    titles = [f"{a} {b}" for a in _TITLE_LEFT for b in _TITLE_RIGHT]
    companies = [f"{a} {b}" for a in _COMPANY_LEFT for b in _COMPANY_RIGHT]
    industry_ids = _ids(1, len(_INDUSTRY_WORDS), 11)
    region_ids = _ids(90_000_000, len(regions), 12)
    title_ids = _ids(1, len(titles), 13)
    company_ids = _ids(1000, len(companies), 14)
    facets = [
        Facet("MEMBER_COMPANY_SIZE", "urn:li:adTargetingFacet:staffCountRanges", _COMPANY_SIZES, _COMPANY_SIZES),
        Facet(
            "MEMBER_SENIORITY",
            "urn:li:adTargetingFacet:seniorities",
            tuple(f"urn:li:seniority:{i}" for i in range(1, 11)),
            _SENIORITIES,
        ),
        Facet(
            "MEMBER_INDUSTRY",
            "urn:li:adTargetingFacet:industries",
            tuple(f"urn:li:industry:{i}" for i in industry_ids),
            _INDUSTRY_WORDS,
        ),
        Facet(
            "MEMBER_JOB_TITLE",
            "urn:li:adTargetingFacet:titles",
            tuple(f"urn:li:title:{i}" for i in title_ids),
            tuple(titles),
        ),
        Facet(
            "MEMBER_JOB_FUNCTION",
            "urn:li:adTargetingFacet:jobFunctions",
            tuple(f"urn:li:function:{i}" for i in range(1, len(_FUNCTIONS) + 1)),
            _FUNCTIONS,
        ),
        Facet(
            "MEMBER_COUNTRY_V2",
            "urn:li:adTargetingFacet:locations",
            tuple(f"urn:li:geo:{i}" for i, _ in _COUNTRIES),
            tuple(name for _, name in _COUNTRIES),
        ),
        Facet(
            "MEMBER_REGION_V2",
            "urn:li:adTargetingFacet:locations",
            tuple(f"urn:li:geo:{i}" for i in region_ids),
            tuple(regions),
        ),
        Facet(
            "MEMBER_COMPANY",
            "urn:li:adTargetingFacet:employers",
            tuple(f"urn:li:organization:{i}" for i in company_ids),
            tuple(companies),
        ),
    ]
    return {facet.pivot: facet for facet in facets}


UNIVERSES: dict[str, Facet] = _universes()
"""``MEMBER_*`` pivot -> its value universe."""

_ALWAYS_RESOLVED = ("MEMBER_SENIORITY", "MEMBER_JOB_FUNCTION", "MEMBER_COUNTRY_V2")


@cache
def _directory() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for facet in UNIVERSES.values():
        if facet.pivot == "MEMBER_COMPANY_SIZE":
            continue  # enum values, not URNs
        for value, name in zip(facet.values, facet.names, strict=True):
            if facet.pivot in _ALWAYS_RESOLVED or zlib.crc32(value.encode()) % 20 != 0:
                out[value] = (facet.facet_urn, name)
    return out


def resolve(urn: str) -> dict[str, str] | None:
    """The ``adTargetingEntities`` element for a URN, or ``None`` when LinkedIn would leave it out."""
    hit = _directory().get(urn)
    return None if hit is None else {"urn": urn, "facetUrn": hit[0], "name": hit[1]}
