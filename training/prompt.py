"""The stage-2 action model's prompt and answer format, in one place (issue 9).

Hark's Swift side must reproduce `render_catalog`, `render_state` and `build_prompt` byte for byte
(the catalog part is a fixed prefix that the stage-2 loader caches), so everything the model sees is
made here and nowhere else. training/README.md documents the format with an example.

    <|im_start|>system
    Devices (id type room: names):                       <- render_catalog: fixed for a catalog
    kitchen_light light kitchen: kitchen light
    ...
    speaker media this: speaker
    Commands: light turn_on turn_off set_brightness(percent) | ... | speaker +start_timer(seconds) cancel_timer
    Answer: JSON actions, then a short reply.<|im_end|>
    <|im_start|>user
    State: living_room_tv on volume 30; last living_room_tv      <- render_state, only when known
    turn it up<|im_end|>
    <|im_start|>assistant
    [{"device":"living_room_tv","command":"volume_up","args":{}}]   <- answer: one JSON line,
    Turning up the TV.<|im_end|>                                      then the spoken reply

The JSON line is DESIGN §4's action list (possibly `[]`), compact, keys in the order device,
command, args, args keys sorted. It comes first so the daemon can act as soon as the line ends.
"""
import json
import os

import yaml

# DESIGN §4 / devices/README.md: commands by type; the speaker (this_device) adds timers.
COMMANDS = {
    "light": ["turn_on", "turn_off", "set_brightness"],
    "switch": ["turn_on", "turn_off"],
    "fan": ["turn_on", "turn_off", "set_speed"],
    "thermostat": ["turn_on", "turn_off", "set_temperature"],
    "cover": ["open", "close", "set_position"],
    "media": ["turn_on", "turn_off", "set_volume", "volume_up", "volume_down", "mute", "unmute"],
    "lock": ["lock", "unlock"],
}
SPEAKER_EXTRA = ["start_timer", "cancel_timer"]
ARGS = {  # command -> its one argument (none for the rest)
    "set_brightness": "percent", "set_position": "percent", "set_volume": "percent",
    "set_speed": "level", "set_temperature": "celsius", "start_timer": "seconds",
}
TYPE_ORDER = ["light", "switch", "fan", "thermostat", "cover", "media", "lock"]
DEFAULT_CELSIUS = (5, 35)


def load_catalog(path):
    """A catalog file or directory (every *.yaml/*.yml in name order, merged), as harkd reads it.
    Returns {"rooms": {key: spoken}, "devices": {id: {...}}} in file order."""
    files = [path]
    if os.path.isdir(path):
        files = [os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith((".yaml", ".yml"))]
    rooms, devices = {}, {}
    for f in files:
        with open(f) as fh:
            doc = yaml.load(fh, Loader=yaml.BaseLoader) or {}  # BaseLoader: every value is text
        rooms.update(doc.get("rooms", {}) or {})
        for dev_id, d in (doc.get("devices", {}) or {}).items():
            devices[dev_id] = d
    return {"rooms": rooms, "devices": devices}


def commands_of(dev):
    cmds = list(COMMANDS[dev["type"]])
    if is_speaker(dev):
        cmds += SPEAKER_EXTRA
    return cmds


def is_speaker(dev):
    return str(dev.get("this_device", "false")).lower() == "true"


def celsius_limits(dev):
    lim = (dev.get("limits") or {}).get("celsius") or {}
    lo, hi = lim.get("min", DEFAULT_CELSIUS[0]), lim.get("max", DEFAULT_CELSIUS[1])
    return float(lo), float(hi)


def _num(x):
    return str(int(x)) if float(x) == int(float(x)) else str(x)


def render_catalog(cat):
    """The system message: one line per device, then the commands of the types present."""
    lines = ["Devices (id type room: names):"]
    types = []
    for dev_id, d in cat["devices"].items():
        t = d["type"]
        if t not in types:
            types.append(t)
        if is_speaker(d):
            lines.append(f"{dev_id} {t} this: speaker")
            continue
        room = cat["rooms"].get(d.get("room", ""), "") if d.get("room") else ""
        head = f"{dev_id} {t}" + (f" {room}" if room else "")
        if t == "thermostat":
            lo, hi = celsius_limits(d)
            head += f" {_num(lo)}-{_num(hi)}C"
        lines.append(head + ": " + ", ".join(d.get("names", [])))
    parts = []
    for t in TYPE_ORDER:
        if t in types:
            parts.append(t + " " + " ".join(_cmd_sig(c) for c in COMMANDS[t]))
    if any(is_speaker(d) for d in cat["devices"].values()):
        parts.append("speaker +" + " ".join(_cmd_sig(c) for c in SPEAKER_EXTRA))
    lines.append("Commands: " + " | ".join(parts))
    lines.append("Answer: JSON actions, then a short reply.")
    return "\n".join(lines)


def _cmd_sig(c):
    return f"{c}({ARGS[c]})" if c in ARGS else c


def render_state(state):
    """Known device state, e.g. {"living_room_tv": {"power": "on", "volume": 30}} and an optional
    "_last" (the device last acted on, what 'it' refers to). Empty when nothing is known."""
    if not state:
        return ""
    parts = []
    for dev_id, s in state.items():
        if dev_id == "_last":
            continue
        words = [dev_id]
        for k in ("power", "brightness", "volume", "position", "speed", "target_celsius", "muted", "locked"):
            if k in s:
                v = s[k]
                if k == "power":
                    words.append(str(v))
                elif k == "muted":
                    words.append("muted" if v else "unmuted")
                elif k == "locked":
                    words.append("locked" if v else "unlocked")
                elif k == "target_celsius":
                    words.append(f"set {_num(v)}C")
                else:
                    words.append(f"{k} {v if isinstance(v, str) else _num(v)}")
        parts.append(" ".join(words))
    if "_last" in state:
        parts.append("last " + state["_last"])
    return "State: " + "; ".join(parts)


def build_prompt(catalog_text, request, state_text=""):
    """Everything before the answer. The catalog part (up to and including the first
    '<|im_end|>\\n') is identical for every request to the same catalog."""
    user = (state_text + "\n" if state_text else "") + request
    return (f"<|im_start|>system\n{catalog_text}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def prefix_of(catalog_text):
    return f"<|im_start|>system\n{catalog_text}<|im_end|>\n"


def actions_json(actions):
    """DESIGN §4 actions as one compact JSON line: keys device, command, args (args sorted)."""
    return json.dumps([{"device": a["device"], "command": a["command"],
                        "args": {k: a["args"][k] for k in sorted(a.get("args", {}))}} for a in actions],
                      separators=(",", ":"))


def answer(actions, reply):
    """The training target after the prompt: the JSON line, the reply, end of turn."""
    return actions_json(actions) + "\n" + reply + "<|im_end|>"


def parse_actions(text):
    """The action list from a model's answer (its first line), or None when it is not one."""
    line = text.strip().split("\n", 1)[0].strip()
    try:
        v = json.loads(line)
    except ValueError:
        return None
    if not isinstance(v, list) or not all(isinstance(a, dict) for a in v):
        return None
    return v


def grammar(cat):
    """A GBNF grammar (llama.cpp's) for the answer's JSON line over this catalog: only devices of
    the catalog, only their type's commands, every argument typed (numbers as JSON numbers within
    their range's digit count; the daemon's validator checks the exact range). Ends at the newline;
    the reply after it is free text."""
    rules, alts = [], []
    for dev_id, d in cat["devices"].items():
        sym = "d-" + dev_id.replace("_", "-")
        cmd_alts = []
        for c in commands_of(d):
            arg = ARGS.get(c)
            if arg is None:
                a = '"{}"'
            elif arg == "level":
                a = '"{\\"level\\":\\"" ("low" | "medium" | "high") "\\"}"'
            elif arg == "celsius":
                a = '"{\\"celsius\\":" celsius "}"'
            elif arg == "seconds":
                a = '"{\\"seconds\\":" seconds "}"'
            else:
                a = '"{\\"percent\\":" percent "}"'
            cmd_alts.append(f'"\\"{c}\\",\\"args\\":" {a}')
        rules.append(f'{sym} ::= "\\"{dev_id}\\",\\"command\\":" (' + " | ".join(cmd_alts) + ")")
        alts.append(sym)
    head = [
        'root ::= "[" ( action ( "," action )* )? "]" "\\n"',
        'action ::= "{\\"device\\":" ( ' + " | ".join(alts) + ' ) "}"',
        'percent ::= "100" | [1-9] [0-9] | [0-9]',
        'celsius ::= [1-9] [0-9]? ( "." [05] )?',
        'seconds ::= [1-9] [0-9]? [0-9]? [0-9]? [0-9]?',
    ]
    return "\n".join(head + rules) + "\n"


def grammar_spec(cat, max_actions=8):
    """The same constraint as `grammar`, in the form Hark's stage-2 worker takes it (HarkStage2's
    ActionGrammar.Spec, as harkd's Stage2Prompt builds it from the catalog): the devices, each with
    its commands and their argument kind, thermostats with their range; at most max_actions actions
    (harkd's stage2.max_actions default)."""
    devices = []
    for dev_id, d in cat["devices"].items():
        cmds = []
        for c in commands_of(d):
            cmd = {"name": c}
            if c in ARGS:
                cmd["argument"] = ARGS[c]
            if ARGS.get(c) == "celsius":
                cmd["minimum"], cmd["maximum"] = celsius_limits(d)
            cmds.append(cmd)
        devices.append({"id": dev_id, "commands": cmds})
    return {"devices": devices, "maxActions": max_actions}


def action_key(a):
    """Hashable form of one action, for set comparison (numbers compared as numbers)."""
    args = tuple(sorted((k, float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                        for k, v in (a.get("args") or {}).items()))
    return (a.get("device"), a.get("command"), args)


def action_set(actions):
    return frozenset(action_key(a) for a in actions)
