import HarkDaemon
print(Event.wake(word: "hey_jarvis", score: 0.5, t: 0).jsonLine)
