"""Approval-voted actions: pushAction → votes → ready → (execution, a later step) → done.

``model`` (the document and its vocabulary), ``machine`` (pure state transitions),
``targets`` (query → per-rack calls), ``service`` (memory + store + the ``actions``
channel). See ``docs/ACTIONS.md``.
"""
