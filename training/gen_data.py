#!/usr/bin/env python3
"""Training data for the stage-2 action model, generated from device catalogs (issue 9).

Every example is a request to one home (a catalog), optionally with known device state, and its
answer: DESIGN §4's action list (possibly empty) and a short spoken reply. The homes are the demo
home (devices/demo-home.yaml) and random homes drawn from the pools below, so the model learns to
read the catalog in its prompt rather than memorise one house.

Phrasings come from templates per intent: synonyms, numbers in words and in digits, several actions
in one request, whole rooms / the whole house / "all except", fillers and disfluencies, politeness,
self-corrections, relative requests ("turn it up") resolved against the state, and out-of-scope
requests (questions, chit-chat, devices or commands the home does not have) whose answer is `[]`.

Held out: a fixed share of the templates (HELD_TEMPLATES) and of the random homes never appear in
train.jsonl; held.jsonl uses only them, so it measures phrasings and homes the model never saw.
../shared/eval/stage2-dev.jsonl is never read here.

Usage: python training/gen_data.py [--seed 1] [--train 20000] [--held 1000] [--out build/stage2-data]
Writes train.jsonl, held.jsonl and catalogs.json (the random homes) under --out.
Each line: {"home": KEY, "text": ..., "state": {...}, "actions": [...], "reply": ...}
"""
import argparse
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prompt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------- numbers

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return TENS[t] + ("" if o == 0 else random.choice([" ", "-"]) + ONES[o])
    if n == 100:
        return random.choice(["one hundred", "a hundred", "hundred"])
    h, r = divmod(n, 100)
    return ONES[h] + " hundred" + ("" if r == 0 else random.choice([" ", " and "]) + words(r))


def num(n, p_words=0.5):
    return words(n) if random.random() < p_words else str(n)


def pct(n):
    r = random.random()
    if r < 0.55:
        return f"{num(n)} percent"
    if r < 0.75:
        return f"{n}%"
    if r < 0.8:
        return f"{num(n)} per cent"
    return num(n)  # bare number


def degrees(c):
    whole = int(c)
    half = c != whole
    if half:
        base = num(whole)
        r = random.random()
        if r < 0.5 or base.isdigit():
            s = f"{whole}.5" if random.random() < 0.6 else f"{base} and a half"
        else:
            s = f"{base} point five"
    else:
        s = num(whole)
    r = random.random()
    if r < 0.55:
        return s + " degrees"
    if r < 0.65:
        return s + " degrees celsius"
    if r < 0.7 and s[0].isdigit():
        return s + "°C"
    return s


# ---------------------------------------------------------------- homes

ROOM_POOL = ["kitchen", "living room", "bedroom", "hallway", "office", "garage", "bathroom", "dining room",
             "kids room", "guest room", "basement", "porch", "study", "nursery", "attic", "laundry room",
             "den", "patio", "master bedroom", "playroom"]
# type -> list of (base name, extra aliases)
KIND_POOL = {
    "light": [("light", []), ("lamp", []), ("ceiling light", []), ("floor lamp", []), ("desk lamp", []),
              ("lights", []), ("spotlights", []), ("reading lamp", []), ("night light", [])],
    "switch": [("coffee maker", ["coffee machine"]), ("kettle", []), ("space heater", ["heater"]),
               ("fountain", []), ("christmas tree", ["tree lights"]), ("printer", []),
               ("electric blanket", []), ("aquarium pump", []), ("plug", ["smart plug"]),
               ("dehumidifier", []), ("humidifier", []), ("towel warmer", [])],
    "fan": [("fan", []), ("ceiling fan", []), ("air purifier", ["purifier"]), ("extractor fan", []),
            ("tower fan", [])],
    "thermostat": [("thermostat", ["heating"]), ("heating", []), ("radiator", []), ("air conditioner", ["ac"]),
                   ("heat pump", [])],
    "cover": [("blinds", []), ("curtains", []), ("shades", []), ("shutters", []), ("garage door", []),
              ("awning", []), ("skylight", [])],
    "media": [("tv", ["television"]), ("television", ["tv"]), ("stereo", []), ("radio", []), ("soundbar", []),
              ("speakers", []), ("projector", [])],
    "lock": [("front door", []), ("back door", []), ("side gate", []), ("garage lock", []), ("patio door", []),
             ("door", [])],
}
TYPE_WEIGHTS = {"light": 5, "switch": 2, "fan": 1.5, "thermostat": 1, "cover": 1.5, "media": 1.5, "lock": 1}


def random_home(rng):
    """A random home: 3-5 rooms, 5-14 devices, the speaker itself; every spoken name unique."""
    rooms = rng.sample(ROOM_POOL, rng.randint(2, 5))
    devices, used = {}, set()
    n = rng.randint(5, 14)
    types = list(TYPE_WEIGHTS)
    tries = 0
    while len(devices) < n and tries < 200:
        tries += 1
        t = rng.choices(types, weights=[TYPE_WEIGHTS[x] for x in types])[0]
        base, aliases = rng.choice(KIND_POOL[t])
        room = rng.choice(rooms + ([None] if t in ("lock", "switch") else []))
        full = f"{room} {base}" if room else base
        dev_id = re.sub(r"[^a-z0-9]+", "_", full).strip("_")
        if dev_id in devices or full in used:
            continue
        names = [full]
        for extra in [base] + aliases:
            if rng.random() < 0.5 and extra not in used and extra not in names and extra != full:
                names.append(extra)
        if room and rng.random() < 0.3:
            for a in aliases:
                alt = f"{room} {a}"
                if alt not in used and alt not in names:
                    names.append(alt)
        d = {"type": t, "names": names}
        if room:
            d["room"] = room.replace(" ", "_")
        if t == "thermostat" and rng.random() < 0.6:
            lo = rng.choice([5, 10, 12, 15])
            d["limits"] = {"celsius": {"min": str(lo), "max": str(rng.choice([26, 28, 30, 32]))}}
        devices[dev_id] = d
        used.update(names)
    if rng.random() < 0.9:
        devices["speaker"] = {"type": "media", "this_device": "true"}
    return {"rooms": {r.replace(" ", "_"): r for r in rooms}, "devices": devices}


class Home:
    """A catalog with the lookups the templates need."""

    def __init__(self, key, cat):
        self.key, self.cat = key, cat
        self.devs = []
        for dev_id, d in cat["devices"].items():
            room = cat["rooms"].get(d.get("room", ""), None) if d.get("room") else None
            self.devs.append({"id": dev_id, "type": d["type"], "room": room, "names": list(d.get("names", [])),
                              "speaker": prompt.is_speaker(d), "limits": prompt.celsius_limits(d)})
        self.rooms = sorted({d["room"] for d in self.devs if d["room"]})

    def of_type(self, t, room=None):
        return [d for d in self.devs if d["type"] == t and not d["speaker"] and (room is None or d["room"] == room)]

    def named(self):
        return [d for d in self.devs if not d["speaker"]]

    def speaker(self):
        s = [d for d in self.devs if d["speaker"]]
        return s[0] if s else None


# ---------------------------------------------------------------- phrasing helpers

GENERIC_WORDS = {("light", "light"), ("light", "lights"), ("thermostat", "heating"), ("thermostat", "thermostat"),
                 ("lock", "lock")}
TYPE_WORDS = {"light": ["light", "lights", "lamp"], "fan": ["fan"], "thermostat": ["heating", "thermostat"],
              "cover": ["blinds", "shades", "curtains"], "media": ["tv", "television"], "lock": ["door", "lock"],
              "switch": []}


def ref(home, d, allow_room_form=True):
    """A way to name device d: one of its spoken names, or 'the <type word> in the <room>' when that is
    unambiguous. Returns (text_without_article, needs_article)."""
    forms = [n for n in d["names"]]
    if allow_room_form and d["room"] and len(home.of_type(d["type"], d["room"])) == 1:
        joined = " ".join(d["names"])
        for w in TYPE_WORDS[d["type"]]:
            if w in joined or (d["type"], w) in GENERIC_WORDS:
                forms.append(f"{w} in the {d['room']}")
    return random.choice(forms)


def the(name):
    return name if random.random() < 0.12 else "the " + name


def A(dev_id, command, **args):
    return {"device": dev_id, "command": command, "args": args}


def spoken(d):
    return d["names"][0] if d["names"] else "speaker"


# ------------------------------------------------------------- replies

def reply_for(home, actions):
    if not actions:
        return random.choice(["Sorry, I can't do that.", "Sorry, I can only control your devices.",
                              "I can't help with that.", "That's not something I can do."])
    if len(actions) > 2:
        return random.choice(["Okay.", "Done.", "All set."])
    parts = []
    by_id = {d["id"]: d for d in home.devs}
    for a in actions:
        d = by_id[a["device"]]
        n = "volume" if d["speaker"] else "the " + spoken(d)
        c, g = a["command"], a["args"]
        parts.append({
            "turn_on": f"turning on {n}", "turn_off": f"turning off {n}", "open": f"opening {n}",
            "close": f"closing {n}", "lock": f"locking {n}", "unlock": f"unlocking {n}",
            "set_brightness": f"{n} to {g.get('percent')} percent", "set_position": f"{n} to {g.get('percent')} percent",
            "set_volume": f"{n} to {g.get('percent')} percent", "set_speed": f"{n} on {g.get('level')}",
            "set_temperature": f"{n} to {g.get('celsius')} degrees", "volume_up": f"turning up {n}",
            "volume_down": f"turning down {n}", "mute": f"muting {n}" if not d["speaker"] else "muted",
            "unmute": f"unmuting {n}" if not d["speaker"] else "unmuted",
            "start_timer": f"timer set for {timer_words(g.get('seconds', 0))}", "cancel_timer": "timer cancelled",
        }[c])
    s = " and ".join(parts)
    return s[0].upper() + s[1:] + "."


def timer_words(s):
    h, r = divmod(s, 3600)
    m, sec = divmod(r, 60)
    out = []
    if h:
        out.append(f"{h} hour" + ("s" if h > 1 else ""))
    if m:
        out.append(f"{m} minute" + ("s" if m > 1 else ""))
    if sec:
        out.append(f"{sec} second" + ("s" if sec > 1 else ""))
    return " ".join(out)


# ------------------------------------------------------------- intents
# Each intent returns (text, actions, state) or None when the home lacks what it needs. A template is
# the tuple (intent name, index of the phrasing), which the held-out split keys on.

POWER_ON = ["turn on {d}", "turn {d} on", "switch on {d}", "switch {d} on", "put {d} on", "{D} on",
            "power on {d}", "can you turn on {d}", "i want {d} on", "activate {d}", "get {d} going",
            "turn {d} back on", "{D} on please", "could you switch on {d}", "enable {d}", "start up {d}"]
POWER_OFF = ["turn off {d}", "turn {d} off", "switch off {d}", "switch {d} off", "shut off {d}", "{D} off",
             "power off {d}", "kill {d}", "cut {d}", "shut down {d}", "can you turn off {d}", "i don't need {d} anymore",
             "turn {d} off now", "disable {d}", "switch {d} off for me", "shut {d} off"]
START_STOP = {"turn_on": ["start {d}", "run {d}", "fire up {d}"], "turn_off": ["stop {d}", "stop running {d}"]}


def tmpl(rng_list, key, held):
    """Pick a phrasing index: from held-out ones if held, else from the rest."""
    idx = [i for i in range(len(rng_list)) if ((key, i) in HELD_TEMPLATES) == held]
    if not idx:
        idx = list(range(len(rng_list)))
    i = random.choice(idx)
    return rng_list[i]


HELD_TEMPLATES = set()


def pick_held(seed):
    """Every 7th phrasing of each list (offset by the seed) is held out."""
    r = random.Random(seed + 99)
    for key, lst in PHRASE_LISTS.items():
        off = r.randrange(7)
        for i in range(len(lst)):
            if (i + off) % 7 == 0:
                HELD_TEMPLATES.add((key, i))


def fill(t, name):
    d = the(name)
    return t.replace("{d}", d).replace("{D}", name)


def i_power(home, held):
    cands = [d for d in home.named() if d["type"] in ("light", "switch", "fan", "thermostat", "media")]
    if not cands:
        return None
    d = random.choice(cands)
    on = random.random() < 0.5
    cmd = "turn_on" if on else "turn_off"
    lst = POWER_ON if on else POWER_OFF
    if d["type"] in ("switch", "media", "fan") and random.random() < 0.25:
        key = "start" if on else "stop"
        t = tmpl(START_STOP[cmd], key, held)
    else:
        t = tmpl(lst, "on" if on else "off", held)
    return fill(t, ref(home, d)), [A(d["id"], cmd)], None


ROOM_LIGHTS = {"turn_on": ["turn on the lights in the {r}", "{r} lights on",
                           "light up the {r}", "switch the {r} lights on", "turn the {r} lights on"],
               "turn_off": ["lights off in the {r}", "turn off the lights in the {r}", "{r} lights off",
                            "switch off the {r} lights", "kill the lights in the {r}", "turn the {r} lights off"]}


def i_room_lights(home, held):
    rooms = [r for r in home.rooms if home.of_type("light", r)]
    if not rooms:
        return None
    r = random.choice(rooms)
    cmd = random.choice(["turn_on", "turn_off"])
    t = tmpl(ROOM_LIGHTS[cmd], "roomlights" + cmd, held)
    return t.replace("{r}", r), [A(d["id"], cmd) for d in home.of_type("light", r)], None


BRIGHT = ["set {d} to {p}", "dim {d} to {p}", "set {d} brightness to {p}", "{D} to {p}", "make {d} {p}",
          "brighten {d} to {p}", "put {d} at {p}", "{D} brightness {p}", "change {d} to {p}",
          "can you set {d} to {p}", "adjust {d} to {p}", "i'd like {d} at {p}"]
BRIGHT_MAX = ["{D} at maximum", "{D} to full brightness",
              "turn {d} all the way up", "max out {d}", "full brightness on {d}"]
BRIGHT_HALF = ["set {d} to half brightness", "dim {d} halfway", "{D} at half", "half brightness for {d}"]


def i_brightness(home, held):
    ls = home.of_type("light")
    if not ls:
        return None
    d = random.choice(ls)
    r = random.random()
    if r < 0.12:
        return fill(tmpl(BRIGHT_MAX, "bmax", held), ref(home, d)), [A(d["id"], "set_brightness", percent=100)], None
    if r < 0.2:
        return fill(tmpl(BRIGHT_HALF, "bhalf", held), ref(home, d)), [A(d["id"], "set_brightness", percent=50)], None
    p = random.choice([random.randint(1, 100), random.choice([10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90])])
    t = tmpl(BRIGHT, "bright", held)
    return fill(t, ref(home, d)).replace("{p}", pct(p)), [A(d["id"], "set_brightness", percent=p)], None


SPEED = ["set {d} to {l}", "switch {d} over to {l}", "{D} to {l}", "turn {d} to {l}",
         "switch {d} to {l} speed", "{l} speed on {d}", "run {d} on {l}", "change {d} speed to {l}"]
SPEED_HIGH = ["turn {d} all the way up", "max out {d}", "{D} on full blast", "{D} as fast as it goes"]
SPEED_LOW = ["{D} on the lowest setting", "slowest speed on {d}", "turn {d} down to the lowest"]


def i_speed(home, held):
    fs = home.of_type("fan")
    if not fs:
        return None
    d = random.choice(fs)
    r = random.random()
    if r < 0.12:
        return fill(tmpl(SPEED_HIGH, "shigh", held), ref(home, d)), [A(d["id"], "set_speed", level="high")], None
    if r < 0.2:
        return fill(tmpl(SPEED_LOW, "slow", held), ref(home, d)), [A(d["id"], "set_speed", level="low")], None
    lv = random.choice(["low", "medium", "high"])
    lvw = {"medium": random.choice(["medium", "medium", "mid"])}.get(lv, lv)
    return fill(tmpl(SPEED, "speed", held), ref(home, d)).replace("{l}", lvw), [A(d["id"], "set_speed", level=lv)], None


TEMP = ["set {d} to {t}", "warm the {r} up to {t}", "heat the {r} to {t}", "{D} to {t}", "set the temperature to {t}",
        "i want it {t} in the {r}", "change {d} to {t}", "put {d} on {t}", "turn {d} to {t}",
        "set the {r} temperature to {t}", "can you make it {t}", "adjust {d} to {t}"]


def i_temperature(home, held):
    ts = home.of_type("thermostat")
    if not ts:
        return None
    d = random.choice(ts)
    lo, hi = d["limits"]
    c = random.randint(int(lo), int(hi))
    if random.random() < 0.15 and c < hi:
        c += 0.5
    t = tmpl(TEMP, "temp", held)
    if ("{r}" in t and not d["room"]) or (t in ("set the temperature to {t}", "can you make it {t}") and len(ts) > 1):
        t = "set {d} to {t}"
    if "{r}" in t and len(home.of_type("thermostat", d["room"])) != 1:
        t = "set {d} to {t}"
    s = fill(t, ref(home, d)).replace("{r}", d["room"] or "").replace("{t}", degrees(c))
    return s, [A(d["id"], "set_temperature", celsius=c)], None


COVER_OPEN = ["open {d}", "roll up {d}", "pull up {d}", "open up {d}", "lift {d}", "{D} up", "let some light in, open {d}"]
COVER_CLOSE = ["close {d}", "lower {d}", "shut {d}", "pull down {d}", "draw {d}", "{D} down", "close {d} please"]
COVER_POS = ["set {d} to {p}", "open {d} to {p}", "{D} to {p}", "put {d} at {p}", "move {d} to {p}"]
COVER_FRAC = {50: ["{D} half open", "put {d} halfway", "set {d} half way open", "{D} to the middle"],
              25: ["open {d} a quarter", "open {d} a quarter of the way"],
              75: ["open {d} three quarters", "open {d} three quarters of the way"]}


def i_cover(home, held):
    cs = home.of_type("cover")
    if not cs:
        return None
    d = random.choice(cs)
    r = random.random()
    n = ref(home, d)
    if r < 0.3:
        return fill(tmpl(COVER_OPEN, "copen", held), n), [A(d["id"], "open")], None
    if r < 0.6:
        return fill(tmpl(COVER_CLOSE, "cclose", held), n), [A(d["id"], "close")], None
    if r < 0.75:
        p = random.choice(list(COVER_FRAC))
        return fill(random.choice(COVER_FRAC[p]), n), [A(d["id"], "set_position", percent=p)], None
    p = random.randint(0, 100)
    return fill(tmpl(COVER_POS, "cpos", held), n).replace("{p}", pct(p)), [A(d["id"], "set_position", percent=p)], None


VOL_UP = ["turn up {d}", "turn {d} up", "make {d} louder", "{D} louder", "volume up on {d}", "raise the volume on {d}",
          "increase {d} volume", "pump up {d}", "turn the volume up on {d}", "{D} volume up"]
VOL_DOWN = ["turn down {d}", "turn {d} down", "make {d} quieter", "{D} quieter", "volume down on {d}",
            "lower the volume on {d}", "decrease {d} volume", "turn the volume down on {d}", "{D} volume down",
            "turn {d} down a bit"]
VOL_SET = ["set {d} volume to {p}", "set the volume on {d} to {p}", "{D} volume {p}", "{D} volume to {p}",
           "put {d} volume at {p}", "change {d} volume to {p}"]
MUTE = ["mute {d}", "silence {d}", "{D} mute", "put {d} on mute"]
UNMUTE = ["unmute {d}", "{D} unmute", "turn the sound back on on {d}", "take {d} off mute"]
SPK_UP = ["volume up", "louder", "turn it up", "turn up the volume", "speaker volume up",
          "can you be louder", "a bit louder please", "increase the volume", "turn the speaker volume up", "speak up"]
SPK_DOWN = ["volume down", "quieter", "turn down the volume", "speaker volume down",
            "a bit quieter", "lower your volume", "decrease the volume",
            "turn the speaker down", "not so loud"]
SPK_SET = ["set the volume to {p}", "volume {p}", "speaker volume to {p}", "set your volume to {p}",
           "volume to {p}", "change the volume to {p}", "speaker to {p}"]
SPK_MUTE = ["mute", "mute yourself", "hush", "silence", "shut up", "quiet please", "mute the speaker"]
SPK_UNMUTE = ["unmute", "unmute yourself", "unmute the speaker", "sound back on", "you can talk again"]


def i_media(home, held):
    ms = home.of_type("media")
    if not ms:
        return None
    d = random.choice(ms)
    n = ref(home, d)
    r = random.random()
    if r < 0.25:
        return fill(tmpl(VOL_UP, "vup", held), n), [A(d["id"], "volume_up")], None
    if r < 0.5:
        return fill(tmpl(VOL_DOWN, "vdown", held), n), [A(d["id"], "volume_down")], None
    if r < 0.7:
        p = random.randint(0, 100)
        return fill(tmpl(VOL_SET, "vset", held), n).replace("{p}", pct(p)), [A(d["id"], "set_volume", percent=p)], None
    if r < 0.85:
        return fill(tmpl(MUTE, "mute", held), n), [A(d["id"], "mute")], None
    return fill(tmpl(UNMUTE, "unmute", held), n), [A(d["id"], "unmute")], None


def i_speaker(home, held):
    s = home.speaker()
    if not s:
        return None
    r = random.random()
    if r < 0.25:
        return tmpl(SPK_UP, "spkup", held), [A(s["id"], "volume_up")], None
    if r < 0.5:
        return tmpl(SPK_DOWN, "spkdown", held), [A(s["id"], "volume_down")], None
    if r < 0.72:
        p = random.randint(0, 100)
        return tmpl(SPK_SET, "spkset", held).replace("{p}", pct(p)), [A(s["id"], "set_volume", percent=p)], None
    if r < 0.88:
        return tmpl(SPK_MUTE, "spkmute", held), [A(s["id"], "mute")], None
    return tmpl(SPK_UNMUTE, "spkunmute", held), [A(s["id"], "unmute")], None


LOCK = ["lock {d}", "lock up {d}", "make sure {d} is locked", "{D} lock", "secure {d}", "bolt {d}"]
UNLOCK = ["unlock {d}", "open the lock on {d}", "{D} unlock", "let me in, unlock {d}"]


def i_lock(home, held):
    ls = home.of_type("lock")
    if not ls:
        return None
    d = random.choice(ls)
    if random.random() < 0.75:
        return fill(tmpl(LOCK, "lock", held), ref(home, d)), [A(d["id"], "lock")], None
    return fill(tmpl(UNLOCK, "unlock", held), ref(home, d)), [A(d["id"], "unlock")], None


TIMER = ["set a timer for {t}", "timer for {t}", "start a timer for {t}", "set a {u} timer", "start a {u} timer",
         "can you set a timer for {t}", "put a timer on for {t}", "count down {t}", "{t} timer please",
         "i need a timer for {t}", "set the timer to {t}", "give me a {u} timer"]
CANCEL = ["cancel the timer", "stop the timer", "cancel my timer", "never mind the timer", "turn off the timer",
          "delete the timer", "kill the timer", "forget the timer", "timer off", "abort the timer"]


def duration():
    """(seconds, phrase for 'for {t}', phrase for 'a {u} timer')."""
    r = random.random()
    if r < 0.45:
        m = random.choice([1, 2, 3, 4, 5, 5, 10, 10, 12, 15, 15, 20, 25, 30, 40, 45, 60, 90, random.randint(1, 120)])
        w = num(m)
        return m * 60, f"{'one' if m == 1 and random.random() < 0.5 else ('a' if m == 1 else w)} minute{'s' if m != 1 else ''}", f"{w} minute"
    if r < 0.7:
        s = random.choice([10, 15, 20, 30, 30, 45, 60, 90, 120, random.randint(5, 300)])
        w = num(s)
        return s, f"{w} second{'s' if s != 1 else ''}", f"{w} second"
    if r < 0.82:
        h = random.choice([1, 1, 2, 3])
        if h == 1:
            return 3600, random.choice(["one hour", "an hour", "1 hour"]), random.choice(["one hour", "1 hour"])
        return h * 3600, f"{num(h)} hours", f"{num(h)} hour"
    if r < 0.88:
        return 1800, random.choice(["half an hour", "thirty minutes", "a half hour"]), random.choice(["half hour", "thirty minute"])
    if r < 0.93:
        m = random.choice([1, 2, 5, 10])
        return m * 60 + 30, f"{words(m)} and a half minutes", f"{m}.5 minute"
    if r < 0.97:
        return 5400, random.choice(["an hour and a half", "one and a half hours", "90 minutes"]), "90 minute"
    m, s = random.randint(1, 9), random.choice([10, 15, 20, 30, 45])
    return m * 60 + s, f"{num(m)} minute{'s' if m > 1 else ''} and {num(s)} seconds", f"{m} minute {s} second"


def i_timer(home, held):
    s = home.speaker()
    if not s:
        return None
    if random.random() < 0.25:
        return tmpl(CANCEL, "cancel", held), [A(s["id"], "cancel_timer")], None
    sec, t, u = duration()
    return tmpl(TIMER, "timer", held).replace("{t}", t).replace("{u}", u), [A(s["id"], "start_timer", seconds=sec)], None


# ---- whole house, rooms, except

ALL_LIGHTS = {"turn_on": ["turn on all the lights", "all lights on",
                          "switch on all the lights", "lights on everywhere", "turn all the lights on",
                          "every light on please"],
              "turn_off": ["all lights off", "switch off every light", "lights off everywhere",
                           "turn all the lights off", "kill all the lights", "every light off please"]}
ROOM_ALL = {"turn_off": ["turn off everything in the {r}", "switch off everything in the {r}",
                         "everything off in the {r}", "shut down the {r}", "power down everything in the {r}"],
            "turn_on": ["turn everything on in the {r}", "turn on everything in the {r}", "switch everything on in the {r}"]}
EXCEPT = ["turn {o} every light but {x}", "all lights {o} except {x}",
          "switch {o} all the lights apart from {x}", "turn {o} all lights other than {x}"]
ALL_DIM = ["set all the lights to {p}", "all lights to {p}", "set every light to {p}"]


def i_all(home, held):
    lights = home.of_type("light")
    r = random.random()
    if r < 0.3 and len(lights) >= 2:
        cmd = random.choice(["turn_on", "turn_off"])
        return tmpl(ALL_LIGHTS[cmd], "all" + cmd, held), [A(d["id"], cmd) for d in lights], None
    if r < 0.45 and len(lights) >= 2:
        p = random.choice([10, 20, 25, 30, 40, 50, 60, 75, 80, random.randint(1, 100)])
        return tmpl(ALL_DIM, "alldim", held).replace("{p}", pct(p)), [A(d["id"], "set_brightness", percent=p) for d in lights], None
    if r < 0.7:
        rooms = [x for x in home.rooms if len([d for d in home.named() if d["room"] == x and d["type"] in POWERED]) >= 2]
        if rooms:
            rm = random.choice(rooms)
            cmd = random.choice(["turn_off", "turn_off", "turn_on"])
            devs = [d for d in home.named() if d["room"] == rm and d["type"] in POWERED]
            return tmpl(ROOM_ALL[cmd], "roomall" + cmd, held).replace("{r}", rm), [A(d["id"], cmd) for d in devs], None
    if len(lights) >= 3:
        cmd = random.choice(["turn_on", "turn_off"])
        if random.random() < 0.5:
            rm = random.choice([d["room"] for d in lights if d["room"]] or [None])
            if rm:
                keep = [d for d in lights if d["room"] != rm]
                x = random.choice([f"the {rm}", f"the {rm} ones", f"the {rm} light", f"the one in the {rm}"])
                if keep:
                    return tmpl(EXCEPT, "except", held).replace("{o}", cmd[5:]).replace("{x}", x), [A(d["id"], cmd) for d in keep], None
        ex = random.choice(lights)
        keep = [d for d in lights if d is not ex]
        return tmpl(EXCEPT, "except", held).replace("{o}", cmd[5:]).replace("{x}", the(random.choice(ex["names"]))), [A(d["id"], cmd) for d in keep], None
    return None


def state_of(d):
    """A plausible known state for device d (keys of devices/README.md's device state)."""
    t = d["type"]
    if t == "lock":
        return {"locked": random.random() < 0.6}
    if t == "cover":
        return {"position": random.choice([0, 0, 100, 100, 50, random.randint(0, 100)])}
    s = {"power": random.choice(["on", "off"])}
    if s["power"] == "on":
        if t == "light" and random.random() < 0.5:
            s["brightness"] = random.choice(range(10, 101, 10))
        elif t == "media" and random.random() < 0.5:
            s["volume"] = random.choice(range(0, 101, 5))
        elif t == "fan" and random.random() < 0.5:
            s["speed"] = random.choice(["low", "medium", "high"])
        elif t == "thermostat" and random.random() < 0.5:
            s["target_celsius"] = random.randint(16, 24)
    return s


POWERED = ("light", "switch", "fan", "media", "thermostat")

# ---- relative requests, resolved against the state

REL_UP = ["turn it up", "a bit more", "turn it up a bit", "more", "make it brighter", "higher", "up a little", "increase it"]
REL_DOWN = ["turn it down", "a bit less", "turn it down a bit", "less", "make it dimmer", "lower", "down a little", "decrease it"]
REL_OFF = ["turn it off", "switch it off", "off", "that's enough, turn it off", "shut it off"]
REL_ON = ["turn it on", "switch it on", "turn it back on", "on again"]


def i_relative(home, held):
    cands = [d for d in home.named() if d["type"] in ("light", "media", "fan", "thermostat")]
    if not cands:
        return None
    d = random.choice(cands)
    st = {}
    t = d["type"]
    r = random.random()
    if r < 0.3:
        st[d["id"]] = {"power": "on"}
        text = tmpl(REL_OFF, "reloff", held)
        acts = [A(d["id"], "turn_off")]
    elif r < 0.4:
        st[d["id"]] = {"power": "off"}
        text = tmpl(REL_ON, "relon", held)
        acts = [A(d["id"], "turn_on")]
    else:
        up = random.random() < 0.5
        text = tmpl(REL_UP if up else REL_DOWN, "relup" if up else "reldown", held)
        if t == "light":
            b = random.choice(range(10, 100, 10))
            nb = min(100, b + 20) if up else max(0, b - 20)
            st[d["id"]] = {"power": "on", "brightness": b}
            acts = [A(d["id"], "set_brightness", percent=nb)]
        elif t == "media":
            st[d["id"]] = {"power": "on", "volume": random.choice(range(10, 90, 5))}
            text = text.replace("brighter", "louder").replace("dimmer", "quieter")
            acts = [A(d["id"], "volume_up" if up else "volume_down")]
        elif t == "fan":
            levels = ["low", "medium", "high"]
            cur = random.randint(0, 1) if up else random.randint(1, 2)
            st[d["id"]] = {"power": "on", "speed": levels[cur]}
            text = text.replace("brighter", "faster").replace("dimmer", "slower")
            acts = [A(d["id"], "set_speed", level=levels[cur + (1 if up else -1)])]
        else:
            lo, hi = d["limits"]
            c = random.randint(int(lo) + 1, int(hi) - 1)
            st[d["id"]] = {"power": "on", "target_celsius": c}
            text = text.replace("brighter", "warmer").replace("dimmer", "cooler")
            acts = [A(d["id"], "set_temperature", celsius=c + (1 if up else -1))]
    st["_last"] = d["id"]
    # other devices in the state too, so the model has to find the one 'it' means
    for o in random.sample(home.named(), min(len(home.named()), random.randint(0, 2))):
        if o["id"] != d["id"]:
            st = {o["id"]: state_of(o), **st}
    return text, acts, st


# ---- out of scope: nothing to do

OOS = ["what language do they speak in {x}", "tell me something funny", "how old is {y}", "thanks a lot", "thanks", "what time is it",
       "what's the weather like", "who won the game last night", "play some music", "how are you", "good morning",
       "what's two plus two", "order a pizza", "call mom", "send a message to john", "what's on my calendar",
       "set an alarm for seven am", "remind me to buy milk", "how do you spell necessary", "tell me a story",
       "what's the news", "never mind", "nothing", "sorry wrong button", "who are you", "what can you do",
       "is it going to rain tomorrow", "how far is the moon", "what's the meaning of life", "sing a song",
       "good night", "what's {n} times {m}", "translate hello into spanish", "book a table for two",
       "what day is it", "add eggs to the shopping list", "hello", "okay", "stop", "cancel", "what was that",
       "how many ounces in a pound", "where is {x}", "who wrote hamlet", "recommend a movie", "i love you",
       "turn on the {z}", "open the {z}", "set the {z} to fifty percent", "is {n2} on", "is {n2} locked",
       "what's the temperature in the bedroom", "how warm is it", "are the lights on", "make me a sandwich",
       "dim the {z}", "vacuum the floor", "start the dishwasher", "turn on the oven", "feed the cat",
       "water the plants", "what song is this", "lock the car", "open the window", "call an uber"]
PLACES = ["france", "japan", "canada", "peru", "kenya", "norway", "india", "brazil", "egypt", "italy"]
TALL = ["the eiffel tower", "the pyramids", "the universe", "the colosseum", "big ben"]
ABSENT = ["garage light", "porch light", "pool pump", "sprinkler", "oven", "dishwasher", "garden lights",
          "bathroom fan", "office lamp", "washing machine", "car", "window", "attic light", "basement light"]


def i_oos(home, held):
    t = tmpl(OOS, "oos", held)
    names = {n for d in home.devs for n in d["names"]}
    absent = [a for a in ABSENT if a not in names and not any(a in n or n in a for n in names)]
    if "{z}" in t:
        if not absent:
            return None
        t = t.replace("{z}", random.choice(absent))
    if "{n2}" in t:
        t = t.replace("{n2}", the(random.choice([n for d in home.named() for n in d["names"]] or ["light"])))
    t = t.replace("{x}", random.choice(PLACES)).replace("{y}", random.choice(TALL))
    t = t.replace("{n}", num(random.randint(2, 12))).replace("{m}", num(random.randint(2, 12)))
    return t, [], None


# ---- several actions in one request

JOIN = [" and ", ", and ", " and then ", ", then ", " and also ", ", "]
PREFACE = ["it's movie time, ", "i'm leaving, ", "good night, ", "i'm home, ",
           "we're having dinner, ", "time to wake up, ", "", "", "", "", ""]


def i_multi(home, held):
    r = random.random()
    if r < 0.4:
        # one verb, several devices: "turn off the kitchen light and the fan"
        cmd = random.choice(["turn_on", "turn_off"])
        cands = [d for d in home.named() if d["type"] in POWERED]
        if len(cands) < 2:
            return None
        ds = random.sample(cands, min(len(cands), random.choice([2, 2, 2, 3])))
        names = [the(ref(home, d)) for d in ds]
        lst = names[0] if len(names) == 1 else ", ".join(names[:-1]) + random.choice([" and ", ", and "]) + names[-1]
        verb = {"turn_on": ["turn on", "switch on", "power on"], "turn_off": ["turn off", "switch off", "shut off"]}[cmd]
        if random.random() < 0.3:
            text = f"{random.choice(['turn', 'switch'])} {lst} {cmd[5:]}"
        else:
            text = f"{random.choice(verb)} {lst}"
        return random.choice(PREFACE) + text, [A(d["id"], cmd) for d in ds], None
    # two or three independent requests joined
    parts, acts = [], []
    used = set()
    n = random.choice([2, 2, 2, 3])
    for _ in range(n * 3):
        if len(parts) == n:
            break
        f = random.choice([i_power, i_power, i_brightness, i_temperature, i_cover, i_media, i_lock, i_speed, i_timer, i_speaker])
        out = f(home, held)
        if not out or out[2]:
            continue
        text, a, _ = out
        if not a or any(x["device"] in used for x in a) and random.random() < 0.7:
            continue
        used.update(x["device"] for x in a)
        parts.append(text)
        acts += a
    if len(parts) < 2:
        return None
    text = parts[0]
    for p in parts[1:]:
        text += random.choice(JOIN) + p
    return random.choice(PREFACE) + text, acts, None


def i_same_device_two(home, held):
    """Two commands to one device: 'switch on the tv and set the volume to 15'."""
    ms = home.of_type("media")
    ls = home.of_type("light")
    if ms and random.random() < 0.5:
        d = random.choice(ms)
        p = random.randint(5, 80)
        t = random.choice(["switch on {d} and set the volume to {p}",
                           "turn on {d} and put the volume at {p}"])
        return fill(t, ref(home, d)).replace("{p}", pct(p)), [A(d["id"], "turn_on"), A(d["id"], "set_volume", percent=p)], None
    if ls:
        d = random.choice(ls)
        p = random.randint(5, 100)
        t = random.choice(["turn on {d} and set it to {p}", "switch {d} on at {p}", "turn {d} on to {p}"])
        return fill(t, ref(home, d)).replace("{p}", pct(p)), [A(d["id"], "turn_on"), A(d["id"], "set_brightness", percent=p)], None
    return None


def i_correction(home, held):
    """Self-correction: 'turn on the kitchen, no, the bedroom light'."""
    cands = [d for d in home.named() if d["type"] in POWERED]
    if len(cands) < 2:
        return None
    a, b = random.sample(cands, 2)
    cmd = random.choice(["turn_on", "turn_off"])
    v = {"turn_on": "turn on", "turn_off": "turn off"}[cmd]
    fix = random.choice(["no, ", "no wait, ", "sorry, ", "i mean ", "actually "])
    text = f"{v} {the(ref(home, a))}, {fix}{the(ref(home, b))}"
    return text, [A(b["id"], cmd)], None


INTENTS = [(i_power, 14), (i_room_lights, 4), (i_brightness, 8), (i_speed, 4), (i_temperature, 6), (i_cover, 6),
           (i_media, 7), (i_speaker, 6), (i_lock, 3), (i_timer, 8), (i_all, 7), (i_relative, 5), (i_oos, 10),
           (i_multi, 14), (i_same_device_two, 2), (i_correction, 2)]

PHRASE_LISTS = {
    "on": POWER_ON, "off": POWER_OFF, "start": START_STOP["turn_on"], "stop": START_STOP["turn_off"],
    "roomlightsturn_on": ROOM_LIGHTS["turn_on"], "roomlightsturn_off": ROOM_LIGHTS["turn_off"],
    "bright": BRIGHT, "bmax": BRIGHT_MAX, "bhalf": BRIGHT_HALF, "speed": SPEED, "shigh": SPEED_HIGH, "slow": SPEED_LOW,
    "temp": TEMP, "copen": COVER_OPEN, "cclose": COVER_CLOSE, "cpos": COVER_POS, "vup": VOL_UP, "vdown": VOL_DOWN,
    "vset": VOL_SET, "mute": MUTE, "unmute": UNMUTE, "spkup": SPK_UP, "spkdown": SPK_DOWN, "spkset": SPK_SET,
    "spkmute": SPK_MUTE, "spkunmute": SPK_UNMUTE, "lock": LOCK, "unlock": UNLOCK, "timer": TIMER, "cancel": CANCEL,
    "allturn_on": ALL_LIGHTS["turn_on"], "allturn_off": ALL_LIGHTS["turn_off"], "alldim": ALL_DIM,
    "roomallturn_off": ROOM_ALL["turn_off"], "roomallturn_on": ROOM_ALL["turn_on"], "except": EXCEPT,
    "reloff": REL_OFF, "relon": REL_ON, "relup": REL_UP, "reldown": REL_DOWN, "oos": OOS,
}

# ---- surface noise: fillers, disfluencies, politeness, case and punctuation

FILLERS = ["um ", "uh ", "hey ", "okay ", "so ", "hmm ", "ok so ", "alright ", "er "]
POLITE_PRE = ["please ", "could you ", "can you ", "would you ", "could you please ", "would you mind, ",
              "i'd like you to ", "hey, ", "go ahead and ", "can you please "]
POLITE_POST = [" please", " thanks", " thank you", " now", " for me", " right now", " if you don't mind", " quickly"]


def noisy(text):
    r = random.random()
    if r < 0.2:
        text = random.choice(POLITE_PRE) + text
    elif r < 0.3:
        text = random.choice(FILLERS) + text
    if random.random() < 0.15:
        text += random.choice(POLITE_POST)
    if random.random() < 0.08:  # a filler before a noun: 'turn on the uh kitchen light'
        text = re.sub(r"\bthe ", lambda m: "the " + random.choice(["uh ", "um ", "er "]), text, count=1)
    if random.random() < 0.04:  # a stutter: 'turn turn off the light'
        w = text.split(" ")
        i = random.randrange(len(w))
        w.insert(i, w[i])
        text = " ".join(w)
    r = random.random()
    if r < 0.3:  # Whisper's transcripts: capitalised, punctuated
        text = text[0].upper() + text[1:] + random.choice([".", ".", "?", "!", ""])
    elif r < 0.35:
        text = text.upper() if random.random() < 0.2 else text + "."
    return text


def example(home, held):
    while True:
        f = random.choices([x[0] for x in INTENTS], weights=[x[1] for x in INTENTS])[0]
        out = f(home, held)
        if out is None:
            continue
        text, acts, st = out
        text = re.sub(r"\s+", " ", noisy(text)).strip()
        state = st or {}
        if not st and random.random() < 0.1:  # some unrelated known state, which must not change the answer
            ds = random.sample(home.named(), min(2, len(home.named())))
            state = {d["id"]: state_of(d) for d in ds}
        return {"home": home.key, "text": text, "state": state, "actions": acts, "reply": reply_for(home, acts)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train", type=int, default=20000)
    ap.add_argument("--held", type=int, default=1000)
    ap.add_argument("--homes", type=int, default=300, help="random homes for training (a tenth more are held out)")
    ap.add_argument("--demo-share", type=float, default=0.6, help="share of examples in the demo home")
    ap.add_argument("--catalog", default=os.path.join(ROOT, "devices", "demo-home.yaml"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "stage2-data"))
    a = ap.parse_args()
    random.seed(a.seed)
    pick_held(a.seed)
    rng = random.Random(a.seed + 1)
    demo = Home("demo", prompt.load_catalog(a.catalog))
    homes = {f"r{i}": random_home(rng) for i in range(a.homes + a.homes // 10)}
    train_homes = [Home(k, c) for k, c in list(homes.items())[:a.homes]]
    held_homes = [Home(k, c) for k, c in list(homes.items())[a.homes:]]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "catalogs.json"), "w") as f:
        json.dump(homes, f, indent=0)
    seen = set()
    for name, n, hs, held in (("train", a.train, train_homes, False), ("held", a.held, held_homes, True)):
        rows = 0
        with open(os.path.join(a.out, name + ".jsonl"), "w") as f:
            while rows < n:
                home = demo if random.random() < a.demo_share else random.choice(hs)
                ex = example(home, held)
                k = (ex["home"], ex["text"])
                if held and k in seen:
                    continue  # held-out requests never equal a training request
                seen.add(k)
                f.write(json.dumps(ex) + "\n")
                rows += 1
        print(f"gen_data: {rows} examples -> {os.path.join(a.out, name + '.jsonl')}")


if __name__ == "__main__":
    main()
