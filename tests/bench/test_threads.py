"""One rule for a run's CPU threads (runner.resolve_threads): the runner option, then the bench row,
then the build's card, then the library's default; one check for a thread count."""

from __future__ import annotations

import pytest

from edgeseg.card import ModelCard
from edgeseg.errors import BuildError, UnsupportedOptionError
from edgeseg.runner import check_threads, resolve_threads


def _card(threads):
    return ModelCard(
        arch="cgnet", num_classes=1, class_names=("a",), palette=((0, 0, 0),), extra={"threads": threads}
    )


def test_option_then_row_then_card_then_default():
    assert resolve_threads(option=3, row=2, card=_card(4)) == 3
    assert resolve_threads(row=2, card=_card(4)) == 2
    assert resolve_threads(card=_card(4)) == 4
    assert resolve_threads(card=_card(None)) is None and resolve_threads() is None
    assert resolve_threads(card=_card("2")) is None  # a card's odd value is not a setting


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_bad_count_is_one_line_naming_where(bad):
    with pytest.raises(UnsupportedOptionError, match=r"^row threads: threads must be a positive integer"):
        resolve_threads(row=bad)
    with pytest.raises(BuildError, match=r"^--threads: threads must be a positive integer"):
        check_threads(bad, where="--threads", error=BuildError)
