"""A one-line picture of a user's spend against their quota this period."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from llmgw.tui.format import FREQUENCY_NAMES, decimal, usd
from llmgw.v1 import quota_pb2


class QuotaBar(Horizontal):
    """Spent of limit as a bar with the amounts beside it; turns to the error colour when exceeded."""

    DEFAULT_CSS = """
    QuotaBar {
        height: 1;
        width: 1fr;
        & > .quota-bar--label { width: auto; margin-right: 1; }
        & > ProgressBar { width: auto; }
        & > ProgressBar > Bar { width: 16; }
        & > ProgressBar > Bar > .bar--bar { color: $success; }
        &.-exceeded > ProgressBar > Bar > .bar--bar, &.-exceeded > ProgressBar > Bar > .bar--complete { color: $error; }
        &.-exceeded > .quota-bar--label { color: $error; text-style: bold; }
    }
    """

    def compose(self) -> ComposeResult:
        """The widget's parts."""
        yield Label("quota: …", classes="quota-bar--label")
        # No bar until a status arrives: an empty one would read as nothing spent.
        bar = ProgressBar(total=1, show_eta=False, show_percentage=True)
        bar.display = False
        yield bar

    def show(self, status: quota_pb2.QuotaStatus) -> None:
        """Draw a status as GetQuotaStatus returned it."""
        limit, spent = decimal(status.limit_usd), decimal(status.spent_usd)
        frequency = FREQUENCY_NAMES.get(status.frequency, "")
        self.query_one(Label).update(f"{frequency} quota {usd(status.spent_usd)} / {usd(status.limit_usd)}")
        bar = self.query_one(ProgressBar)
        bar.display = True
        if limit > 0:
            bar.update(total=float(limit), progress=float(min(spent, limit)))
        else:
            bar.update(total=1, progress=1)
        self.set_class(status.exceeded, "-exceeded")

    def unknown(self, why: str) -> None:
        """Say why there is no status to show, with no bar (an empty one would read as nothing spent)."""
        self.query_one(Label).update(f"quota: {why}")
        self.query_one(ProgressBar).display = False
        self.set_class(False, "-exceeded")
