"""Writes the fixture that holds harkd's stage-2 prompt to this package's (prompt.py).

    .venv/bin/python training/prompt_fixtures.py      (make stage2-prompt-fixtures)

For the demo home and 12 seeded random homes of gen_data.py (thermostat limits, rooms, with and
without the speaker), each written as catalog YAML that harkd reads too: the catalog text, one
whole prompt, and the answer lines prompt.py writes for requests to that home (the shared dev set's
expected actions for the demo home; a few generated examples for the others). Swift's tests
(Stage2PromptTests) render the same catalogs and compare byte for byte, and check that the action
grammar accepts every answer line and that the answers parse to the same actions.
"""
import json
import random
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_data  # noqa: E402
import prompt  # noqa: E402

ROOT = HERE.parent
OUT = ROOT / "Tests/HarkDaemonTests/Fixtures/stage2-prompt.json"


def with_transports(cat):
    """A random home as catalog YAML (prompt.py ignores transports; harkd needs one per device)."""
    devices = {}
    for dev_id, d in cat["devices"].items():
        d = dict(d)
        if prompt.is_speaker(d):
            d["this_device"] = True
            d["transport"] = {"via": "speaker"}
        else:
            d["transport"] = {"via": "zigbee2mqtt", "name": dev_id}
        devices[dev_id] = d
    return yaml.safe_dump({"rooms": cat["rooms"], "devices": devices}, sort_keys=False, allow_unicode=True)


def main():
    homes = []
    demo_path = ROOT / "devices/demo-home.yaml"
    demo = prompt.load_catalog(str(demo_path))
    dev = [json.loads(line) for line in open(ROOT.parent / "shared/eval/stage2-dev.jsonl")]
    demo_text = prompt.render_catalog(demo)
    homes.append({
        "name": "demo-home",
        "yaml": demo_path.read_text(),
        "catalog_text": demo_text,
        "request": dev[5]["text"],
        "prompt": prompt.build_prompt(demo_text, dev[5]["text"]),
        "answers": [{"line": prompt.actions_json(e["expect"][0]), "actions": e["expect"][0]} for e in dev],
    })
    rng = random.Random(20261122)
    random.seed(20261122)   # the intents draw from the module's generator
    for k in range(12):
        cat = gen_data.random_home(rng)
        text = with_transports(cat)
        parsed = yaml.load(text, Loader=yaml.BaseLoader)   # as prompt.load_catalog reads a file
        cat = {"rooms": parsed.get("rooms", {}) or {}, "devices": parsed["devices"]}
        home = gen_data.Home(f"random-{k}", cat)
        answers = []
        intents = [gen_data.i_power, gen_data.i_room_lights, gen_data.i_brightness, gen_data.i_speed,
                   gen_data.i_temperature, gen_data.i_cover, gen_data.i_media]
        for _ in range(60):
            fn = rng.choice(intents)
            try:
                made = fn(home, False)
            except (IndexError, ValueError):
                continue
            if not made:
                continue
            actions = made[1]
            answers.append({"line": prompt.actions_json(actions), "actions": actions})
            if len(answers) == 8:
                break
        catalog_text = prompt.render_catalog(cat)
        homes.append({"name": f"random-{k}", "yaml": text, "catalog_text": catalog_text, "request": "make it nice in here",
                      "prompt": prompt.build_prompt(catalog_text, "make it nice in here"), "answers": answers})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": "training/prompt_fixtures.py", "homes": homes}, indent=1) + "\n")
    print(f"prompt_fixtures: {len(homes)} homes, {sum(len(h['answers']) for h in homes)} answer lines -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
