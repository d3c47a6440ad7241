"""Loading an object and checking the actor's right to it, as one dependency per case.

A handler that takes `evidence: VisibleEvidence` cannot forget the check.
"""
