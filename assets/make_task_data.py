"""Write the bundled data of the extraction and generation demos, from the same invented wine world.

Run from the repository root:  .venv/bin/python assets/make_task_data.py

Deterministic (fixed seeds). The wine world (places, varieties, producers, tasting notes) is the one
`make_demo_data.py` builds; nothing comes from a real data set.

Outputs (in src/distill_tui/assets/):
    extraction.csv            600 reviews with the fields a reader can take from them: grape, region
                              (the province, from the appellation named), producer, price_band (from
                              the price quoted) and sweetness (from the words used); each a column,
                              and all of them as one JSON cell, "fields" (the demo's reference)
    knowledge_extraction.csv  8,000 more from another seed: what the offline models learn fields from
    generation.csv            400 sommelier questions with a short reference answer
    knowledge_generation.csv  the questions and answers the offline models retrieve from, worded
                              differently from the demo's questions
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import make_demo_data as world

OUT_DIR = world.OUT_DIR
EXTRACTION_SEED, EXTRACTION_KNOWLEDGE_SEED, GENERATION_SEED = 14, 1414, 41
EXTRACTION_ROWS, EXTRACTION_KNOWLEDGE_ROWS, GENERATION_ROWS = 600, 8000, 400
EXTRACTION_COLUMNS = ["id", "review", "grape", "region", "producer", "price_band", "sweetness"]
FIELDS = EXTRACTION_COLUMNS[2:]
PRICE_BANDS = ["under $15", "$15-30", "$30-60", "over $60", "unknown"]
SWEETNESS = ["dry", "off-dry", "sweet"]

# --- extraction -------------------------------------------------------------------------------------
_SWEET_LEANING = {"Riesling", "Chenin Blanc", "Gewürztraminer"}
_SWEETNESS_ODDS = {"red": (0.95, 0.05, 0.0), "rose": (0.8, 0.2, 0.0), "sparkling": (0.7, 0.2, 0.1),
                   "white": (0.85, 0.12, 0.03), "sweet-leaning": (0.4, 0.35, 0.25)}
_SWEETNESS_CUES = {
    "dry": ["Bone dry.", "Dry on the finish.", "Crisp and dry.", "Fermented fully dry."],
    "off-dry": ["A hint of residual sugar.", "Just off-dry.", "Slightly sweet on the finish.", "Demi-sec in style."],
    "sweet": ["Lusciously sweet.", "A dessert wine of honeyed sweetness.", "Rich, sweet and unctuous.",
              "Late-harvest sweetness."],
}
_REVIEW_TEMPLATES = [
    "{winery}, {place} ({country}). {description} {cue}{price_text}",
    "From {winery} in {place}: {description} {cue}{price_text}",
    "{description} {cue}Made by {winery}, {place}.{price_text}",
]


def price_band(price: float | None) -> str:
    if price is None:
        return "unknown"
    return "under $15" if price < 15 else "$15-30" if price < 30 else "$30-60" if price < 60 else "over $60"


def _sweetness(rng: random.Random, variety: str) -> str:
    family = "sweet-leaning" if variety in _SWEET_LEANING else world.VARIETIES[variety]["family"]
    return rng.choices(SWEETNESS, weights=_SWEETNESS_ODDS[family])[0]


def extraction_rows(n: int, seed: int, producers) -> list[dict]:
    """`n` reviews, each a paragraph naming producer, place and (usually) price, with its fields."""
    rng = random.Random(seed)
    out = []
    for i, row in enumerate(world.make_rows(n, seed, producers)):
        sweetness = _sweetness(rng, row["variety"])
        cue = rng.choice(_SWEETNESS_CUES[sweetness]) + " " if rng.random() < 0.8 else ""
        price = row["price"]
        price_text = (rng.choice([" ${p}.", " Priced at ${p}.", " About ${p} a bottle."]).format(p=int(price))
                      if price is not None else "")
        review = rng.choice(_REVIEW_TEMPLATES).format(
            winery=row["winery"], place=row["region_1"] or row["province"], country=row["country"],
            description=row["description"], cue=cue, price_text=price_text)
        out.append({"id": i, "review": " ".join(review.split()), "grape": row["variety"],
                    "region": row["province"], "producer": row["winery"], "price_band": price_band(price),
                    "sweetness": sweetness})
    return out


# --- generation -------------------------------------------------------------------------------------
PAIRING = {
    "Bordeaux-style Red Blend": "roast lamb or a rib of beef", "Merlot": "roast duck or mushroom risotto",
    "Cabernet Sauvignon": "grilled steak or aged cheddar", "Pinot Noir": "roast chicken or salmon",
    "Gamay": "charcuterie or a simple roast chicken", "Syrah": "barbecued meats or lamb stew",
    "Malbec": "grilled beef or empanadas", "Chardonnay": "lobster or chicken in a cream sauce",
    "Chenin Blanc": "pork with apples or spicy Thai dishes", "Sauvignon Blanc": "goat cheese or grilled fish",
    "Riesling": "spicy Asian food or smoked trout", "Gewürztraminer": "Munster cheese or Indian curries",
    "Viognier": "apricot-glazed chicken or mild curries", "Champagne Blend": "oysters or fried snacks",
    "Rosé": "salads, grilled fish or a picnic", "Zinfandel": "barbecue ribs or pizza",
    "Red Blend": "burgers or pasta with meat sauce", "Sangiovese": "pasta with tomato sauce or pizza",
    "Nebbiolo": "truffle dishes or braised beef", "Tempranillo": "roast lamb or chorizo",
}
SERVE_AT = {"red": "16 to 18 °C, just below room temperature", "white": "8 to 10 °C, well chilled",
            "sparkling": "6 to 8 °C, very cold", "rose": "8 to 10 °C, chilled"}
# intent -> (about, knowledge wordings, demo wordings, knowledge answers, reference answer)
INTENTS = {
    "taste": ("variety",
              ["What does {x} taste like?", "Describe the flavours of {x}.", "How would you describe a typical {x}?",
               "What aromas are typical of {x}?"],
              ["I'm new to {x}: what flavours should I expect?", "Tell me how {x} usually tastes."],
              ["{x} typically shows {n1}, {n2} and {n3}, with {f1}.", "Expect {n1}, {n2} and {n3} from {x}, and {f1}."],
              "A typical {x} has {n1}, {n2} and {n3} notes and {f1}."),
    "pairing": ("variety",
                ["What food goes with {x}?", "What should I eat with a glass of {x}?",
                 "Which dishes pair well with {x}?"],
                ["Planning dinner around {x}: what should I cook?", "Any food pairing ideas for {x}?"],
                ["{x} goes well with {pairing}.", "Try {x} with {pairing}."],
                "Pair {x} with {pairing}."),
    "serve": ("variety",
              ["At what temperature should I serve {x}?", "How cold should {x} be served?",
               "What is the right serving temperature for {x}?"],
              ["Should I chill my {x}, and how much?", "Best temperature to drink {x} at?"],
              ["Serve {x} at {serve}.", "{x} is best at {serve}."],
              "{x} shows best at {serve}."),
    "price": ("variety",
              ["How much does a good {x} cost?", "What should I expect to pay for {x}?",
               "What is a fair price for a bottle of {x}?"],
              ["Roughly how much is a decent {x}?", "What's a typical price for {x}?"],
              ["A good {x} costs around ${price} a bottle.", "Expect to pay about ${price} for {x}."],
              "Around ${price} buys a good {x}."),
    "grapes": ("place",
               ["Which grapes are grown in {x}?", "What grape varieties does {x} make?", "What wines come from {x}?"],
               ["If I buy a wine from {x}, which grape is it likely to be?", "Which varieties is {x} known for?"],
               ["{x} is best known for {main}{others}.", "Mostly {main} in {x}{others}."],
               "{x} mainly makes {main}{others}."),
    "where": ("place",
              ["Where is {x}?", "In which region is {x}?", "Which part of which country is {x} in?"],
              ["Can you tell me where the {x} appellation is?", "{x}: which wine region is that in?"],
              ["{x} is in {province}, {country}.", "You will find {x} in {province} ({country})."],
              "{x} lies in {province}, {country}."),
}


def _places() -> dict[str, dict]:
    found = {}
    regions = [("France", p, r, vs) for p, rs in world.FRANCE.items() for r, vs in rs.items()]
    regions += [(c, p, r, vs) for c, ps in world.ELSEWHERE.items() for p, rs in ps.items() for r, vs in rs.items()]
    for country, province, region, varieties in regions:
        if region and region not in found:
            found[region] = {"country": country, "province": province, "varieties": varieties}
    return found


def _facts(about: str, x: str, places: dict) -> dict[str, str]:
    if about == "variety":
        spec = world.VARIETIES[x]
        n1, n2, n3 = spec["notes"][:3]
        return {"x": x, "n1": n1, "n2": n2, "n3": n3, "f1": spec["feel"][0], "pairing": PAIRING[x],
                "serve": SERVE_AT[spec["family"]], "price": str(world.PRICE_MEDIAN[x])}
    place = places[x]
    rest = place["varieties"][1:3]
    others = f", along with {' and '.join(rest)}" if rest else ""
    return {"x": x, "main": place["varieties"][0], "others": others, "province": place["province"],
            "country": place["country"]}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def knowledge_generation() -> list[dict]:
    """Every knowledge wording of every question, answered in one of the knowledge wordings."""
    rng, places, rows = random.Random(GENERATION_SEED + 1), _places(), []
    for intent, (about, asks, _, answers, _) in INTENTS.items():
        for x in (world.VARIETIES if about == "variety" else places):
            facts = _facts(about, x, places)
            for ask in asks:
                rows.append({"id": len(rows), "question": ask.format(**facts), "topic": intent,
                             "answer": _sentence(rng.choice(answers).format(**facts))})
    return rows


_OPENINGS = ["", "", "Hi! ", "Quick question: ", "Hello, ", "Sorry to bother you: "]
_CLOSINGS = ["", "", " Thanks!", " Cheers.", " Thank you."]


def generation_rows(n: int, seed: int) -> list[dict]:
    """`n` customer questions (the demo's own wordings, with greetings) with a reference answer worded
    its own way. Customers ask the same things again in other words, as at any help desk: a topic
    (question kind and subject) comes up about twice."""
    rng, places = random.Random(seed), _places()
    topics = [(intent, x) for intent, (about, *_rest) in INTENTS.items()
              for x in (world.VARIETIES if about == "variety" else places)]
    chosen = rng.sample(topics, n // 2)
    rows = []
    for i in range(n):
        intent, x = chosen[i // 2] if i < 2 * len(chosen) else rng.choice(topics)
        about, _, asks, _, reference = INTENTS[intent]
        facts = _facts(about, x, places)
        question = rng.choice(_OPENINGS) + rng.choice(asks).format(**facts) + rng.choice(_CLOSINGS)
        rows.append({"question": question, "topic": intent, "answer": _sentence(reference.format(**facts))})
    rng.shuffle(rows)
    return [{"id": i, **row} for i, row in enumerate(rows)]


def write(rows: list[dict], path: Path, columns: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")


def main() -> None:
    producers = world.build_producers()
    demo = extraction_rows(EXTRACTION_ROWS, EXTRACTION_SEED, producers)
    for row in demo:  # the reference: the whole answer as one JSON cell
        row["fields"] = json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False)
    write(demo, OUT_DIR / "extraction.csv", EXTRACTION_COLUMNS + ["fields"])
    write(extraction_rows(EXTRACTION_KNOWLEDGE_ROWS, EXTRACTION_KNOWLEDGE_SEED, producers),
          OUT_DIR / "knowledge_extraction.csv", EXTRACTION_COLUMNS)
    write(generation_rows(GENERATION_ROWS, GENERATION_SEED), OUT_DIR / "generation.csv",
          ["id", "question", "topic", "answer"])
    write(knowledge_generation(), OUT_DIR / "knowledge_generation.csv", ["id", "question", "topic", "answer"])


if __name__ == "__main__":
    main()
