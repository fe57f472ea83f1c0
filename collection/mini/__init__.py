"""The mini family: a small CPU Mistral family (a base, a math and a Japanese expert) that the
collection merges and judges for real, so that every true evaluation takes seconds.

Tokenizer, deterministic corpora, training (``build``, ``train``) and the gates that check the
experts are experts (``gates``); the weights ship in ``models/``, described in MODEL_CARD.md.
"""
