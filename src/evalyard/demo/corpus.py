"""The demo's corpus: short passages about the Saltmere Isles, an imaginary archipelago.

The isles are made up, so no answer can come from what a reader already knows: every
answer is in exactly one passage, and several passages share words with each question so
that retrieval has something to get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PASSAGES", "Passage", "passage_by_id"]


@dataclass(frozen=True, slots=True)
class Passage:
    """One passage of the corpus."""

    passage_id: str
    """A stable id, such as ``"p07"``."""
    title: str
    """What the passage is about."""
    text: str
    """Two to four sentences."""


PASSAGES: tuple[Passage, ...] = tuple(
    Passage(f"p{number:02d}", title, text)
    for number, (title, text) in enumerate(
        [
            (
                "Veloria",
                "Veloria is the largest island of the Saltmere Isles. The capital of Veloria "
                "is Marrowgate. Marrowgate harbour shelters the fishing fleet in winter.",
            ),
            (
                "Marrowgate",
                "Marrowgate was founded by the merchant Idris Penhallow in 1214. The old town "
                "of Marrowgate is built from grey basalt. Its market sells smoked eel and "
                "seaweed bread.",
            ),
            (
                "Tessaly",
                "Tessaly is a small island east of Veloria. About 900 people live on Tessaly. "
                "The island is known for its white cliffs and its lighthouse.",
            ),
            (
                "The Tessaly lighthouse",
                "The Tessaly lighthouse was built in 1788. Its lamp burned whale oil until "
                "1902, when it was converted to kerosene. The last keeper of the lighthouse "
                "was Agnes Morrow.",
            ),
            (
                "The Festival of Lanterns",
                "Every autumn the isles celebrate the Festival of Lanterns. Families float "
                "paper lanterns on the harbour to honour lost sailors. The festival lasts "
                "three nights.",
            ),
            (
                "The Marrowgate ferry",
                "A ferry called the Grey Heron links Marrowgate and Tessaly. The crossing "
                "takes forty minutes in calm weather. The ferry does not sail when the wind "
                "exceeds gale force.",
            ),
            (
                "The tide clock",
                "The tide clock was invented by Oren Vale in 1702. It predicts high water "
                "with a brass dial and a set of weighted gears. A working tide clock stands "
                "in the Marrowgate museum.",
            ),
            (
                "Oren Vale",
                "Oren Vale was a clockmaker from Brisk Hollow. He trained as an apprentice to "
                "his uncle. Besides the tide clock, Vale designed a pocket compass with a "
                "glass face.",
            ),
            (
                "Brisk Hollow",
                "Brisk Hollow is a village in the hills of northern Veloria. It is famous for "
                "its apple orchards. The village holds a cider fair every October.",
            ),
            (
                "The Saltmere puffin",
                "The Saltmere puffin nests on the cliffs of Tessaly. It feeds mainly on sand "
                "eels. A breeding pair raises a single chick each summer.",
            ),
            (
                "Grey seals",
                "A colony of grey seals rests on the sandbanks of Cobble Bay. Pups are born "
                "in late autumn. Visitors must keep at least fifty metres from the colony.",
            ),
            (
                "Cobble Bay",
                "Cobble Bay lies on the south coast of Veloria. Its beach is covered with "
                "round black stones. Fishermen from Cobble Bay catch mackerel and crab.",
            ),
            (
                "Merric",
                "The old language of the isles is called Merric. Fewer than two thousand "
                "people still speak Merric at home. The word for harbour in Merric is porth.",
            ),
            (
                "The University of Marrowgate",
                "The University of Marrowgate opened in 1861. It is best known for its school "
                "of marine biology. Its library holds the oldest map of the isles.",
            ),
            (
                "The oldest map",
                "The oldest map of the Saltmere Isles was drawn by the monk Aldo Ferrant. It "
                "was painted on calfskin around 1350. The map shows sea serpents near "
                "Tessaly.",
            ),
            (
                "Mount Caddow",
                "Mount Caddow is the highest peak of the isles. It rises 1,142 metres above "
                "the sea. Snow covers its summit from December to March.",
            ),
            (
                "The Caddow observatory",
                "An observatory stands on the eastern shoulder of Mount Caddow. It was opened "
                "by the astronomer Lena Saric in 1931. Its telescope has a mirror one metre "
                "wide.",
            ),
            (
                "Lena Saric",
                "Lena Saric was born in Cobble Bay in 1894. She discovered the comet that "
                "bears her name. She later directed the observatory for thirty years.",
            ),
            (
                "Climate",
                "The isles have a mild and windy climate. Most rain falls between October "
                "and January. The warmest month is August.",
            ),
            (
                "Seaweed bread",
                "Seaweed bread is the traditional loaf of the isles. It is made with dulse, "
                "oat flour and buttermilk. Bakers in Marrowgate sell it every morning.",
            ),
            (
                "Smoked eel",
                "Smoked eel is cured over oak chips for two days. The eels are caught in the "
                "rivers of Veloria. The dish is usually served with seaweed bread.",
            ),
            (
                "The crown",
                "The isles use a currency called the crown. One crown is divided into one "
                "hundred pennies. Coins show a puffin on one side.",
            ),
            (
                "The Council of Nine",
                "The isles are governed by the Council of Nine. Its members are elected every "
                "four years. The council meets in the Stone Hall of Marrowgate.",
            ),
            (
                "The Stone Hall",
                "The Stone Hall was completed in 1490. Its roof is made of oak beams from "
                "Brisk Hollow. A tapestry in the hall shows the founding of Marrowgate.",
            ),
            (
                "The River Ashwell",
                "The River Ashwell is the longest river of Veloria. It flows for sixty "
                "kilometres from Mount Caddow to Cobble Bay. Eels and brown trout live in its "
                "waters.",
            ),
            (
                "The Ashwell bridge",
                "The Ashwell bridge has seven stone arches. It was rebuilt after a flood in "
                "1823. Carts paid a toll of one penny to cross.",
            ),
            (
                "Glass making",
                "Glassblowers on Tessaly make green bottles from beach sand. The craft was "
                "brought to the island by settlers from the mainland. The furnace in Tessaly "
                "burns driftwood.",
            ),
            (
                "Harbour chess",
                "Harbour chess is a board game played on a grid of eight by eight squares. "
                "Each player has a fleet of ships instead of knights. The winner is the first "
                "to capture the enemy lighthouse.",
            ),
            (
                "The Long Oar race",
                "The Long Oar race is rowed from Tessaly to Marrowgate each June. Crews of "
                "twelve rowers compete in wooden longboats. The record time is fifty-one "
                "minutes.",
            ),
            (
                "The reed pipe",
                "The traditional instrument of the isles is the reed pipe. It is carved from "
                "elder wood. Reed pipe players perform at the Festival of Lanterns.",
            ),
            (
                "The hill railway",
                "A narrow-gauge railway runs from Marrowgate to Brisk Hollow. The line opened "
                "in 1899. Its steam engine is named Bluebell.",
            ),
            (
                "Wool",
                "Sheep on the hills of Veloria give a coarse brown wool. Weavers turn it into "
                "heavy sailor jumpers. A jumper takes about a week to knit.",
            ),
            (
                "The wreck of the Constance",
                "The merchant ship Constance sank off Cobble Bay in 1847. All thirty crew "
                "were rescued by fishermen. Her bell hangs in the church of Cobble Bay.",
            ),
            (
                "Saint Brannoc's church",
                "The church of Saint Brannoc is the oldest building on Veloria. Its tower was "
                "used as a lookout for pirates. The church bell came from the wreck of the "
                "Constance.",
            ),
            (
                "Pirates",
                "In the seventeenth century pirates hid in the caves of Tessaly. The most "
                "feared captain was Mara Quill. She was captured in 1671 and pardoned by the "
                "council.",
            ),
            (
                "The Tessaly caves",
                "The caves of Tessaly stretch for two kilometres under the cliffs. The "
                "largest chamber is called the Cathedral. Bats roost in the caves during "
                "winter.",
            ),
            (
                "Energy",
                "Most electricity on the isles comes from wind turbines. The largest wind "
                "farm stands on the moors above Brisk Hollow. Tidal generators were installed "
                "in 2015.",
            ),
            (
                "Schools",
                "Children on the isles start school at the age of five. Lessons are taught in "
                "English and Merric. The school year begins after the Festival of Lanterns.",
            ),
            (
                "The flag",
                "The flag of the isles shows a white puffin on a blue field. It was adopted "
                "in 1920. A gold star stands for each inhabited island.",
            ),
            (
                "The Marrowgate Rovers",
                "The Marrowgate Rovers are the oldest football club on the isles. They play "
                "at Quayside Park. Their colours are red and black.",
            ),
            (
                "Heather tea",
                "Heather tea is brewed from dried heather flowers. It is sweetened with honey "
                "from Brisk Hollow. Islanders drink it at the end of the working day.",
            ),
            (
                "The Marrowgate museum",
                "The Marrowgate museum displays clocks, compasses and ship models. Entry is "
                "free on Sundays. The museum was once a customs house.",
            ),
        ],
        start=1,
    )
)

_BY_ID = {passage.passage_id: passage for passage in PASSAGES}


def passage_by_id(passage_id: str) -> Passage:
    """The passage with this id (KeyError if there is none)."""
    return _BY_ID[passage_id]
