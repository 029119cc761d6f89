// make bench-dispatch: validated action → MQTT PUBACK on loopback, and journal writes per second.
print("bench-dispatch: not written yet")
