"""The waiting room's pure parts: the fair open (commit-reveal, keyed permutation) and admission tokens.

They hold no Redis state so that anyone can recompute a position from the published seed (fair.py) and a
purchase route can check a token without a Redis call (tokens.py).
"""

from flashsale.queue.fair import commitment, permute, position_of
from flashsale.queue.tokens import Admission, AdmissionError, Signer

__all__ = ["Admission", "AdmissionError", "Signer", "commitment", "permute", "position_of"]
