"""`gradcheck explore`: search each case's inputs for a point where a gradient fails, shrink it, and
keep it as a regression case. Built on Hypothesis (search, shrinking).

    search.py      one case: the strategies' points, checked as `run` checks, the failure shrunk
    strategies.py  where to look: magnitudes, signs, zeros, ties, the support's edges
    regression.py  a shrunk failure as a literal case appended to a case file
    command.py     the click command

Nothing is imported here, so the CLI's start stays cheap.
"""
