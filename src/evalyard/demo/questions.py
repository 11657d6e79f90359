"""The demo's dataset: questions about the Saltmere Isles, each with its answer and source.

Each question's answer is written word for word in its gold passage (see
:mod:`evalyard.demo.corpus`), so an extractive reader can get it exactly right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["QUESTIONS", "Question"]


@dataclass(frozen=True, slots=True)
class Question:
    """One datapoint of the demo dataset."""

    datapoint_id: str
    """A stable id, such as ``"q07"``."""
    question: str
    """What the pipeline is asked."""
    answer: str
    """The expected answer (the ground truth)."""
    passage_id: str
    """The passage that holds the answer."""

    @property
    def inputs(self) -> dict[str, Any]:
        """The datapoint's inputs, as the pipeline takes them."""
        return {"question": self.question}


QUESTIONS: tuple[Question, ...] = tuple(
    Question(f"q{number:02d}", question, answer, passage_id)
    for number, (question, answer, passage_id) in enumerate(
        [
            ("What is the capital of Veloria?", "Marrowgate", "p01"),
            ("Who founded Marrowgate?", "Idris Penhallow", "p02"),
            ("In what year was Marrowgate founded?", "1214", "p02"),
            ("How many people live on Tessaly?", "900", "p03"),
            ("When was the Tessaly lighthouse built?", "1788", "p04"),
            ("Who was the last keeper of the Tessaly lighthouse?", "Agnes Morrow", "p04"),
            ("How long does the Festival of Lanterns last?", "three nights", "p05"),
            ("What is the name of the ferry to Tessaly?", "Grey Heron", "p06"),
            ("Who invented the tide clock?", "Oren Vale", "p07"),
            ("Where was Oren Vale from?", "Brisk Hollow", "p08"),
            ("What is Brisk Hollow famous for?", "apple orchards", "p09"),
            ("What does the Saltmere puffin feed on?", "sand eels", "p10"),
            ("When are grey seal pups born?", "late autumn", "p11"),
            ("What covers the beach of Cobble Bay?", "round black stones", "p12"),
            ("What is the old language of the isles called?", "Merric", "p13"),
            ("What is the Merric word for harbour?", "porth", "p13"),
            ("When did the University of Marrowgate open?", "1861", "p14"),
            ("What is the oldest building on Veloria?", "the church of Saint Brannoc", "p34"),
            ("How high is Mount Caddow?", "1,142 metres", "p16"),
            ("What are the colours of the Marrowgate Rovers?", "red and black", "p40"),
            ("Where was Lena Saric born?", "Cobble Bay", "p18"),
            ("What is the warmest month on the isles?", "August", "p19"),
            ("What is seaweed bread made with?", "dulse, oat flour and buttermilk", "p20"),
            ("What is smoked eel cured over?", "oak chips", "p21"),
            ("What currency do the isles use?", "the crown", "p22"),
            ("Who governs the isles?", "the Council of Nine", "p23"),
            ("When was the Stone Hall completed?", "1490", "p24"),
            ("How long is the River Ashwell?", "sixty kilometres", "p25"),
            ("What is heather tea sweetened with?", "honey from Brisk Hollow", "p41"),
            ("What do glassblowers on Tessaly make?", "green bottles", "p27"),
            ("What replaces knights in harbour chess?", "a fleet of ships", "p28"),
            ("What is the record time of the Long Oar race?", "fifty-one minutes", "p29"),
            ("What is the traditional instrument of the isles?", "the reed pipe", "p30"),
            ("What is the steam engine of the hill railway named?", "Bluebell", "p31"),
            ("In what year did the Constance sink?", "1847", "p33"),
            ("Who was the most feared pirate captain?", "Mara Quill", "p35"),
            ("What is the largest chamber of the Tessaly caves called?", "the Cathedral", "p36"),
            ("When were tidal generators installed?", "2015", "p37"),
            ("What does the flag of the isles show?", "a white puffin on a blue field", "p39"),
            ("Where do the Marrowgate Rovers play?", "Quayside Park", "p40"),
        ],
        start=1,
    )
)
