"""Write the bundled demo data: a wine-review-style labelled dataset and a larger knowledge file.

Run from the repository root:  .venv/bin/python assets/make_demo_data.py

Everything here is invented for this project (producers, tasters, descriptions), generated from
fixed seeds, so the output is the same on every run. The columns follow the well-known wine review
data set (country, province, region_1, winery, taster_name, points, price, description, variety),
but no text comes from it. Varieties share vocabulary on purpose (Pinot Noir and Gamay, the
Bordeaux grapes, the Loire and Burgundy whites), so telling them apart takes learning.

Outputs (in src/distill_tui/assets/):
    reviews.csv     ~1,500 rows: the demo dataset (mostly France, a few rare labels, odd cells)
    knowledge.csv   20,000 rows from another seed: what the offline teacher and student learn from
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

OUT_DIR = Path(__file__).resolve().parent.parent / "src" / "distill_tui" / "assets"
COLUMNS = ["id", "country", "province", "region_1", "winery", "taster_name", "points", "price", "description", "variety"]
REVIEWS_SEED = 42
KNOWLEDGE_SEED = 20261121
PRODUCER_SEED = 7  # producers are the same world in both files
REVIEWS_ROWS = 1500
KNOWLEDGE_ROWS = 20000
MAIN_WEIGHT = 2.0  # how much likelier a region's first-listed variety is to come from there
ATYPICAL = 0.2  # share of wines described like a sibling variety: errors even a good model makes

# --- varieties: colour family, sibling varieties whose words leak in, and their own words ----------
# Each pool has three kinds of words: "notes" (aromas and flavours), "feel" (texture phrases) and
# "style" (adjectives), so the generated sentences stay grammatical.
def _words(notes: str, feel: str, style: str) -> dict[str, list[str]]:
    return {"notes": notes.split(", "), "feel": feel.split(", "), "style": style.split(", ")}


FAMILY_WORDS = {
    "red": _words("black fruit, red fruit, spice, oak, dark berries, ripe fruit, cherry, plum, toasty oak, savory notes",
                  "ripe tannins, a firm structure, firm tannins, a warm finish", "ripe, dark, firm, savory, rich"),
    "white": _words("citrus, green apple, pear, white flowers, lemon, stone fruit, honey, bright fruit",
                    "crisp acidity, fresh acidity, a mineral edge, a clean finish", "crisp, fresh, bright, mineral"),
    "sparkling": _words("toast, brioche, crisp apple, lemon, chalk, yeasty notes",
                        "fine bubbles, a fine mousse, a creamy texture, lively acidity", "lively, crisp, creamy, elegant"),
    "rose": _words("strawberry, red currant, peach, citrus, summer fruit, light red fruit",
                   "fresh acidity, a pale color, a dry finish", "pale, dry, light, fresh"),
}
GENERIC_WORDS = _words("fruit, wood, spice, ripe fruit, dried herbs",
                       "good acidity, some weight, fine balance, real concentration, a long finish, a short finish",
                       "balanced, fresh, ripe, concentrated, approachable, complex, simple, attractive")

VARIETIES: dict[str, dict] = {
    "Bordeaux-style Red Blend": dict(family="red", siblings=["Merlot", "Cabernet Sauvignon"], **_words(
        "cassis, cedar, graphite, tobacco, blackcurrant, black cherry, licorice, pencil shavings, dark chocolate",
        "dense tannins, a firm structure, polished tannins, a long finish", "structured, age-worthy, polished, dense")),
    "Merlot": dict(family="red", siblings=["Bordeaux-style Red Blend", "Malbec"], **_words(
        "plum, black cherry, mocha, chocolate, fruitcake, cedar, ripe plum",
        "soft tannins, a plush texture, a velvety texture", "plush, round, velvety, supple")),
    "Cabernet Sauvignon": dict(family="red", siblings=["Bordeaux-style Red Blend", "Red Blend"], **_words(
        "cassis, blackcurrant, mint, cedar, graphite, eucalyptus, black cherry",
        "firm tannins, a firm structure, a long finish", "structured, powerful, firm")),
    "Pinot Noir": dict(family="red", siblings=["Gamay"], **_words(
        "red cherry, raspberry, forest floor, mushroom, rose petal, cranberry, sous-bois",
        "fine tannins, a silky texture, a delicate structure", "silky, elegant, earthy, delicate, light-bodied")),
    "Gamay": dict(family="red", siblings=["Pinot Noir"], **_words(
        "red cherry, raspberry, violet, peony, red currant, granite, strawberry, banana",
        "juicy acidity, light tannins, a fruity finish", "juicy, gulpable, fruity, light-bodied, bright")),
    "Syrah": dict(family="red", siblings=["Malbec", "Bordeaux-style Red Blend"], **_words(
        "black pepper, olive, smoked meat, bacon, violet, blackberry, garrigue, licorice, tapenade",
        "dense tannins, a meaty texture, a peppery finish", "meaty, dense, savory, peppery")),
    "Malbec": dict(family="red", siblings=["Merlot", "Syrah"], **_words(
        "dark plum, blueberry, violet, cocoa, blackberry, mocha",
        "firm tannins, an inky color", "inky, tannic, dense")),
    "Chardonnay": dict(family="white", siblings=["Chenin Blanc", "Champagne Blend"], **_words(
        "butter, toast, hazelnut, yellow apple, vanilla, buttered toast, almond, oak, baked apple",
        "a creamy texture, a rich texture, a toasty finish", "creamy, rich, round, buttery")),
    "Chenin Blanc": dict(family="white", siblings=["Chardonnay", "Sauvignon Blanc"], **_words(
        "quince, honey, chamomile, wax, lanolin, yellow apple, baked apple",
        "a waxy texture, racy acidity, a touch of sweetness", "honeyed, off-dry, waxy, racy, rich")),
    "Sauvignon Blanc": dict(family="white", siblings=["Chenin Blanc", "Riesling"], **_words(
        "gooseberry, grass, grapefruit, flint, elderflower, lime, passion fruit",
        "zesty acidity, a steely edge, a tangy finish", "zesty, steely, tangy, herbaceous")),
    "Riesling": dict(family="white", siblings=["Gewürztraminer", "Sauvignon Blanc"], **_words(
        "petrol, lime, slate, white peach, apricot, lemon zest, honeysuckle",
        "racy acidity, a steely edge, a touch of sweetness", "racy, taut, steely, off-dry")),
    "Gewürztraminer": dict(family="white", siblings=["Riesling", "Viognier"], **_words(
        "lychee, rose petal, ginger, mango, Turkish delight, tropical fruit",
        "an oily texture, a touch of sweetness, a spicy finish", "opulent, perfumed, spicy, off-dry")),
    "Viognier": dict(family="white", siblings=["Gewürztraminer", "Chardonnay"], **_words(
        "apricot, honeysuckle, peach, orange blossom", "an oily texture, a rich texture", "perfumed, rich, oily")),
    "Champagne Blend": dict(family="sparkling", siblings=["Chardonnay"], **_words(
        "brioche, toast, chalk, almond, yeast, biscuit, green apple",
        "a fine mousse, fine bubbles, a creamy texture", "lively, creamy, toasty")),
    "Rosé": dict(family="rose", siblings=["Gamay"], **_words(
        "strawberry, watermelon, melon, herbs, red currant",
        "a salmon-pink color, a crisp finish, a dry finish", "dry, refreshing, crisp, delicate")),
    "Zinfandel": dict(family="red", siblings=["Red Blend", "Syrah"], **_words(
        "jam, bramble, raisin, black pepper, blackberry", "high alcohol, a jammy texture", "jammy, brambly, ripe, spicy")),
    "Red Blend": dict(family="red", siblings=["Zinfandel", "Cabernet Sauvignon"], **_words(
        "chocolate, vanilla, blackberry, jam", "soft tannins, a plush texture", "jammy, plush, ripe")),
    "Sangiovese": dict(family="red", siblings=["Nebbiolo", "Tempranillo"], **_words(
        "sour cherry, leather, tomato leaf, dried herbs", "tart acidity, dusty tannins", "earthy, tart, savory")),
    "Nebbiolo": dict(family="red", siblings=["Sangiovese", "Pinot Noir"], **_words(
        "tar, rose petal, leather, dried cherry", "firm tannins, a firm structure", "austere, age-worthy")),
    "Tempranillo": dict(family="red", siblings=["Sangiovese", "Merlot"], **_words(
        "leather, dill, vanilla, red plum, tobacco, coconut", "dusty tannins, a smooth texture", "smooth, oaky")),
}

# --- places: province -> (region_1 -> varieties made there), with weights ------------------------
FRANCE = {
    "Bordeaux": {
        "Saint-Émilion": ["Bordeaux-style Red Blend", "Merlot"], "Pomerol": ["Merlot", "Bordeaux-style Red Blend"],
        "Pauillac": ["Bordeaux-style Red Blend", "Merlot"], "Margaux": ["Bordeaux-style Red Blend", "Merlot", "Sauvignon Blanc"],
        "Médoc": ["Bordeaux-style Red Blend", "Merlot", "Rosé"],
        "Bordeaux Supérieur": ["Bordeaux-style Red Blend", "Merlot", "Sauvignon Blanc"],
        "Pessac-Léognan": ["Bordeaux-style Red Blend", "Sauvignon Blanc", "Merlot"],
        "Graves": ["Sauvignon Blanc", "Bordeaux-style Red Blend", "Merlot"],
        "Entre-Deux-Mers": ["Sauvignon Blanc", "Merlot", "Rosé"],
        "Bordeaux": ["Bordeaux-style Red Blend", "Merlot", "Sauvignon Blanc", "Rosé"],
    },
    "Burgundy": {
        "Bourgogne": ["Pinot Noir", "Chardonnay", "Gamay", "Rosé"], "Meursault": ["Chardonnay", "Pinot Noir"],
        "Chablis": ["Chardonnay"], "Gevrey-Chambertin": ["Pinot Noir", "Chardonnay"], "Pommard": ["Pinot Noir", "Chardonnay"],
        "Puligny-Montrachet": ["Chardonnay", "Pinot Noir"], "Mâcon-Villages": ["Chardonnay", "Gamay", "Pinot Noir"],
        "Volnay": ["Pinot Noir", "Chardonnay"], "Nuits-Saint-Georges": ["Pinot Noir", "Chardonnay"],
        "Côte de Beaune": ["Pinot Noir", "Chardonnay"], "Coteaux Bourguignons": ["Gamay", "Pinot Noir", "Chardonnay"],
    },
    "Beaujolais": {
        "Morgon": ["Gamay", "Pinot Noir"], "Fleurie": ["Gamay", "Rosé"], "Moulin-à-Vent": ["Gamay", "Pinot Noir"],
        "Beaujolais-Villages": ["Gamay", "Chardonnay", "Rosé"], "Brouilly": ["Gamay", "Chardonnay"],
        "Beaujolais": ["Gamay", "Chardonnay", "Rosé", "Pinot Noir"],
    },
    "Loire Valley": {
        "Sancerre": ["Sauvignon Blanc", "Pinot Noir", "Rosé"], "Vouvray": ["Chenin Blanc", "Champagne Blend"],
        "Pouilly-Fumé": ["Sauvignon Blanc", "Chenin Blanc"], "Savennières": ["Chenin Blanc", "Chardonnay"],
        "Touraine": ["Sauvignon Blanc", "Gamay", "Chenin Blanc", "Pinot Noir", "Rosé"],
        "Anjou": ["Chenin Blanc", "Rosé", "Chardonnay", "Gamay"], "Montlouis-sur-Loire": ["Chenin Blanc", "Sauvignon Blanc"],
        "Saumur": ["Chenin Blanc", "Chardonnay", "Champagne Blend", "Rosé"],
    },
    "Alsace": {
        "Alsace": ["Riesling", "Gewürztraminer", "Pinot Noir", "Chardonnay", "Champagne Blend"],
        "Alsace Grand Cru": ["Riesling", "Gewürztraminer"],
    },
    "Rhône Valley": {
        "Côtes du Rhône": ["Syrah", "Rosé", "Viognier"], "Crozes-Hermitage": ["Syrah", "Viognier"],
        "Saint-Joseph": ["Syrah", "Viognier"],
        "Cornas": ["Syrah"], "Côte Rôtie": ["Syrah", "Viognier"], "Condrieu": ["Viognier"], "Tavel": ["Rosé", "Syrah"],
    },
    "Champagne": {"Champagne": ["Champagne Blend", "Chardonnay", "Pinot Noir", "Rosé"]},
    "Provence": {"Côtes de Provence": ["Rosé", "Syrah", "Chardonnay"], "Bandol": ["Rosé", "Syrah", "Merlot"],
                 "Coteaux d'Aix-en-Provence": ["Rosé", "Syrah", "Bordeaux-style Red Blend"]},
    "Southwest France": {"Cahors": ["Malbec", "Merlot"], "Bergerac": ["Bordeaux-style Red Blend", "Merlot", "Sauvignon Blanc"],
                         "Madiran": ["Bordeaux-style Red Blend", "Malbec"]},
    "Languedoc-Roussillon": {"Languedoc": ["Syrah", "Rosé", "Merlot"],
                             "Pays d'Oc": ["Chardonnay", "Merlot", "Syrah", "Viognier", "Pinot Noir"],
                             "Minervois": ["Syrah", "Rosé"], "Corbières": ["Syrah", "Rosé", "Merlot"]},
}
# Share of French rows per variety. Malbec and Viognier are rare on purpose (min_per_label matters).
FRANCE_VARIETIES = {
    "Bordeaux-style Red Blend": 0.22, "Pinot Noir": 0.16, "Chardonnay": 0.14, "Champagne Blend": 0.085,
    "Rosé": 0.085, "Gamay": 0.07, "Sauvignon Blanc": 0.065, "Syrah": 0.055, "Merlot": 0.045,
    "Chenin Blanc": 0.035, "Riesling": 0.03, "Gewürztraminer": 0.02, "Malbec": 0.0027, "Viognier": 0.0018,
}
ELSEWHERE = {
    "US": {"California": {"Napa Valley": ["Cabernet Sauvignon", "Red Blend", "Chardonnay"],
                          "Sonoma Coast": ["Pinot Noir", "Chardonnay"], "Russian River Valley": ["Pinot Noir", "Chardonnay"],
                          "Paso Robles": ["Zinfandel", "Red Blend", "Cabernet Sauvignon"], "Lodi": ["Zinfandel"]},
           "Oregon": {"Willamette Valley": ["Pinot Noir", "Chardonnay"]},
           "Washington": {"Columbia Valley (WA)": ["Cabernet Sauvignon", "Merlot", "Riesling", "Red Blend"]}},
    "Italy": {"Tuscany": {"Chianti Classico": ["Sangiovese"], "Brunello di Montalcino": ["Sangiovese"],
                          "Toscana": ["Red Blend", "Sangiovese"]},
              "Piedmont": {"Barolo": ["Nebbiolo"], "Barbaresco": ["Nebbiolo"], "Langhe": ["Nebbiolo", "Chardonnay"]}},
    "Spain": {"Northern Spain": {"Rioja": ["Tempranillo", "Rosé"], "Ribera del Duero": ["Tempranillo"]}},
    "Germany": {"Mosel": {"": ["Riesling"]}, "Rheingau": {"": ["Riesling", "Pinot Noir"]}},
    "Argentina": {"Mendoza Province": {"Mendoza": ["Malbec", "Cabernet Sauvignon"], "Uco Valley": ["Malbec", "Chardonnay"]}},
}
COUNTRY_SHARE = {"France": 0.75, "US": 0.1, "Italy": 0.06, "Spain": 0.03, "Germany": 0.03, "Argentina": 0.03}

TASTERS = {
    "France": ["Anne Lefèvre", "Paul Girard", "Sam Fletcher"],
    "US": ["Kerry O’Neill", "Sam Fletcher", "Dana Whitlock"],
    "Italy": ["Matteo Bruni", "Sam Fletcher"],
    "Spain": ["Lucía Herrera"],
    "Germany": ["Jonas Weber", "Anne Lefèvre"],
    "Argentina": ["Lucía Herrera", "Dana Whitlock"],
}
PRICE_MEDIAN = {
    "Bordeaux-style Red Blend": 35, "Merlot": 24, "Cabernet Sauvignon": 45, "Pinot Noir": 42, "Gamay": 20,
    "Syrah": 32, "Malbec": 22, "Chardonnay": 34, "Chenin Blanc": 24, "Sauvignon Blanc": 24, "Riesling": 25,
    "Gewürztraminer": 24, "Viognier": 40, "Champagne Blend": 55, "Rosé": 18, "Zinfandel": 26, "Red Blend": 30,
    "Sangiovese": 35, "Nebbiolo": 55, "Tempranillo": 28,
}

# --- producers ------------------------------------------------------------------------------------
_SYLLABLES = ["bel", "mon", "la", "fer", "ro", "vi", "gnac", "tour", "san", "mar", "cel", "lan", "pey",
              "val", "cour", "bru", "ver", "mai", "son", "lor", "ran", "che", "bois", "fon", "rou", "gé"]
_SURNAMES = ["Moreau", "Lambert", "Fournier", "Girardin", "Rousseau", "Blanchard", "Mercier", "Roux",
             "Chevalier", "Dupuis", "Lefort", "Marchand", "Perrin", "Garnier", "Faure", "Renaud",
             "Boyer", "Vidal", "Arnoux", "Clément", "Bérard", "Lemaître", "Noël", "Thibault"]
_NEW_WORLD = ["Ridge", "Hollow", "Creek", "Canyon", "Oak", "Stone", "Hawk", "River", "Cedar", "Bluff",
              "Mesa", "Meadow", "Falcon", "Summit"]
_ITALIAN = ["Rossi", "Bianchi", "Ferrara", "Conti", "Marini", "Galli", "Serra", "Vitale"]
_SPANISH = ["Herrero", "Moreno", "Castillo", "Navarro", "Ortega", "Vidal", "Prieto"]
_GERMAN = ["Becker", "Schäfer", "Hoffmann", "Krüger", "Vogel", "Lang"]


def _producer_name(rng: random.Random, country: str, province: str) -> str:
    if country == "France":
        if province == "Bordeaux" or province == "Southwest France":
            name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
            return f"Château {name}" if rng.random() < 0.85 else f"Château de {name}"
        if province == "Champagne":
            return f"Champagne {rng.choice(_SURNAMES)}" + (" & Fils" if rng.random() < 0.3 else "")
        prefix = rng.choice(["Domaine", "Domaine", "Domaine", "Maison", "Clos"])
        if rng.random() < 0.15:
            return f"{prefix} de l’{rng.choice(['Écu', 'Arlot', 'Ormeau', 'Île', 'Église'])}"
        return f"{prefix} {rng.choice(_SURNAMES)}"
    if country == "US":
        return f"{rng.choice(_NEW_WORLD)} {rng.choice(_NEW_WORLD)}" + rng.choice([" Cellars", " Vineyards", " Estate", ""])
    if country == "Italy":
        return f"{rng.choice(['Tenuta', 'Cantina', 'Fattoria'])} {rng.choice(_ITALIAN)}"
    if country in ("Spain", "Argentina"):
        return f"{rng.choice(['Bodegas', 'Bodega', 'Viña'])} {rng.choice(_SPANISH)}"
    return f"Weingut {rng.choice(_GERMAN)}"


def build_producers(seed: int = PRODUCER_SEED) -> dict[tuple[str, str, str], list[str]]:
    """Producers of each (country, province, variety), the same in every file.

    Each producer makes a few of its province's varieties, so a producer's name hints at the
    variety without settling it.
    """
    rng = random.Random(seed)
    table: dict[tuple[str, str, str], list[str]] = {}
    places = [("France", p, r) for p, rs in FRANCE.items() for r in rs.items()]
    places += [(c, p, r) for c, ps in ELSEWHERE.items() for p, rs in ps.items() for r in rs.items()]
    by_province: dict[tuple[str, str], list[str]] = {}
    for country, province, (_, varieties) in places:
        bucket = by_province.setdefault((country, province), [])
        bucket.extend(v for v in varieties if v not in bucket)
    for (country, province), varieties in by_province.items():
        names: list[str] = []
        for _ in range(max(8, 12 * len(varieties))):
            name = _producer_name(rng, country, province)
            if name not in names:
                names.append(name)
        for name in names:
            k = min(len(varieties), rng.choice([2, 3, 3, 4]))
            for variety in rng.sample(varieties, k):
                table.setdefault((country, province, variety), []).append(name)
        for variety in varieties:  # every variety has at least one producer
            table.setdefault((country, province, variety), [names[0]])
    return table


# --- descriptions ---------------------------------------------------------------------------------
_OPENERS = [
    "{n1} and {n2} aromas open to a {s1} palate of {n3} and {n4}.",
    "This {s1} wine shows {n1} and {n2}, with {n3} on the finish.",
    "{n1} on the nose leads to {n2} and {n3}.",
    "Aromas of {n1}, {n2} and {n3} mark this {s1} bottling.",
    "It offers {n1} alongside {n2} and a touch of {n3}.",
    "A nose of {n1} gives way to {n2}, {n3} and {f1}.",
]
_MIDDLES = [
    "The palate is {s1} and {s2}, with {f1}.",
    "There is {n1} here, backed by {f1}.",
    "Expect {n1} and {n2} in the mouth.",
    "Hints of {n1} and {n2} linger on the {s1} finish.",
    "The finish shows {f1}.",
    "It is {s1}, with {n1} and {f1}.",
]
_CLOSERS = [
    "Drink now.", "Drink from 2027.", "Ready to drink.", "Best after 2028.", "A wine to age.", "Good value.",
    "Give it a few years in the cellar.", "Enjoy it young.", "Drink through 2032.", "Well made.",
    "It’s a crowd-pleaser.", "A polished effort from a reliable producer.", "Decant before serving.",
]


def _pick(rng: random.Random, variety: str, kind: str, focus: float) -> str:
    """One word of a kind: the variety's own with probability `focus`, else a sibling's, the colour
    family's or a generic one."""
    spec = VARIETIES[variety]
    if rng.random() < focus:
        return rng.choice(spec[kind])
    r = rng.random()
    if r < 0.45:
        return rng.choice(VARIETIES[rng.choice(spec["siblings"])][kind])
    if r < 0.8:
        return rng.choice(FAMILY_WORDS[spec["family"]][kind])
    return rng.choice(GENERIC_WORDS[kind])


def _fill(rng: random.Random, template: str, variety: str, focus: float) -> str:
    kinds = {"n": "notes", "f": "feel", "s": "style"}
    values: dict[str, str] = {}
    for slot in ("n1", "n2", "n3", "n4", "f1", "s1", "s2"):
        if "{" + slot + "}" in template:
            used = set(values.values())
            word = _pick(rng, variety, kinds[slot[0]], focus)
            for _ in range(3):  # avoid "toast and toast"
                if word not in used:
                    break
                word = _pick(rng, variety, kinds[slot[0]], focus)
            values[slot] = word
    return template.format(**values)


def describe(rng: random.Random, variety: str) -> str:
    """A two- or three-sentence tasting note for a variety."""
    # Some notes are vague (mostly shared words): the part of the task no model can get right.
    focus = rng.choice([0.05, 0.15, 0.3, 0.45, 0.6])
    sentences = [_fill(rng, rng.choice(_OPENERS), variety, focus)]
    if rng.random() < 0.7:
        sentences.append(_fill(rng, rng.choice(_MIDDLES), variety, focus))
    sentences.append(rng.choice(_CLOSERS))
    return " ".join(s[:1].upper() + s[1:] for s in sentences)


# --- rows -----------------------------------------------------------------------------------------
def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _french_place(rng: random.Random, variety: str) -> tuple[str, str]:
    options = [(p, r) for p, regions in FRANCE.items() for r, vs in regions.items() if variety in vs]
    # The first-listed variety of a region is its main one: weight it up.
    weights = [MAIN_WEIGHT if FRANCE[p][r][0] == variety else 1.0 for p, r in options]
    return rng.choices(options, weights=weights)[0]


def _described_as(rng: random.Random, variety: str) -> str:
    """The variety a wine tastes like: usually its own, sometimes a sibling's (atypical wines)."""
    if rng.random() < ATYPICAL:
        return rng.choice(VARIETIES[variety]["siblings"])
    return variety


def _make_row(rng: random.Random, producers, country: str, variety: str | None) -> dict:
    if country == "France":
        assert variety is not None
        province, region = _french_place(rng, variety)
    else:
        provinces = ELSEWHERE[country]
        province = rng.choice(list(provinces))
        region = rng.choice(list(provinces[province]))
        variety = rng.choice(provinces[province][region])
    winery = rng.choice(producers[(country, province, variety)])
    tasters = TASTERS[country]
    taster = rng.choice(tasters) if rng.random() > 0.12 else ""
    points = max(80, min(100, round(rng.gauss(88.5, 2.6))))
    price = round(PRICE_MEDIAN[variety] * rng.lognormvariate(0, 0.45) + (points - 88) * 2)
    price = float(max(7, price)) if rng.random() > 0.06 else None
    if region and rng.random() < 0.08:
        region = ""
    return {"country": country, "province": province, "region_1": region, "winery": winery,
            "taster_name": taster, "points": points, "price": price,
            "description": describe(rng, _described_as(rng, variety)), "variety": variety}


def make_rows(n: int, seed: int, producers) -> list[dict]:
    """`n` rows; French varieties follow FRANCE_VARIETIES by exact quota, so rare ones stay rare."""
    rng = random.Random(seed)
    countries = [_weighted(rng, COUNTRY_SHARE) for _ in range(n)]
    n_france = countries.count("France")
    quota = {v: int(round(share * n_france)) for v, share in FRANCE_VARIETIES.items()}
    main = max(quota, key=quota.get)
    quota[main] += n_france - sum(quota.values())
    french = [v for v, k in quota.items() for _ in range(k)]
    rng.shuffle(french)
    rows = []
    for country in countries:
        variety = french.pop() if country == "France" else None
        rows.append(_make_row(rng, producers, country, variety))
    for i, row in enumerate(rows):
        row["id"] = i
    return rows


def add_odd_cells(rows: list[dict], rng: random.Random) -> None:
    """A few French rows (so the demo shows them) with cells that trip naive code: markup-like
    brackets, quotes, non-ASCII punctuation."""
    picks = rng.sample([i for i, row in enumerate(rows) if row["country"] == "France"], 8)
    rows[picks[0]]["description"] += " [Sample tasted from barrel.]"
    rows[picks[1]]["description"] = "Labelled [b]Vieilles Vignes[/b] on the front. " + rows[picks[1]]["description"]
    rows[picks[2]]["description"] += ' The producer calls it "a wine for friends".'
    rows[picks[3]]["description"] = rows[picks[3]]["description"].replace(".", " — très réussi.", 1)
    rows[picks[4]]["description"] += " Pair it with crème brûlée… or don’t."
    rows[picks[5]]["winery"] = rows[picks[5]]["winery"] + " [red]"
    rows[picks[6]]["description"] += " Tasted blind [2 bottles]."
    rows[picks[7]]["region_1"] = ""


def write(rows: list[dict], path: Path) -> None:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.to_csv(path, index=False, lineterminator="\n")
    print(f"wrote {path} ({len(frame)} rows, {frame['variety'].nunique()} labels)")


def main() -> None:
    producers = build_producers()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    reviews = make_rows(REVIEWS_ROWS, REVIEWS_SEED, producers)
    add_odd_cells(reviews, random.Random(REVIEWS_SEED + 1))
    write(reviews, OUT_DIR / "reviews.csv")
    write(make_rows(KNOWLEDGE_ROWS, KNOWLEDGE_SEED, producers), OUT_DIR / "knowledge.csv")


if __name__ == "__main__":
    main()
