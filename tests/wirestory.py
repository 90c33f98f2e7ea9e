"""One wire report and a copy another desk rewrote: a story of two near-duplicate documents."""

__all__ = ["ORIGINAL", "COPY"]

ORIGINAL = {
    "title": "Wagner has up to 1,200 fighters in Libya, confidential UN report says",
    "link": "http://wire.example/2020/05/06/wagner-libya",
    "published": "2020-05-06T17:05:00Z",
    "body": "UNITED NATIONS (Reuters) - The Russian private military group Wagner has up to 1,200 "
            "people deployed in Libya to strengthen the forces of eastern commander Khalifa "
            "Haftar, according to a confidential U.N. report seen by Reuters on Wednesday. The "
            "report by independent sanctions monitors said Wagner had deployed snipers and "
            "specialist military teams to the front lines around Tripoli since late 2019. "
            "The Kremlin has repeatedly denied that Russia has forces in Libya, and said any "
            "Russians fighting there do not represent the state or receive its money."}
# The same wire story, republished by another outlet a day later with small edits.
COPY = {
    "title": "UN monitors: 1,200 Wagner mercenaries fight for Haftar",
    "link": "http://desk.example/world/wagner-haftar-un-report",
    "published": "2020-05-07T08:00:00Z",
    "body": "NEW YORK - The Russian private military group Wagner has up to 1,200 people deployed "
            "in Libya to strengthen the forces of eastern commander Khalifa Haftar, according to "
            "a confidential UN report seen by Reuters. The report by independent sanctions "
            "monitors said Wagner had deployed snipers and specialist military teams to the "
            "front lines around Tripoli since late 2019. The Kremlin has repeatedly denied that "
            "Russia has forces in Libya."}
