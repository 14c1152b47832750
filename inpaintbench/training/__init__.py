"""Training: the Lightning entry (`train`), the training data module and the recipes (`systems/`).

Imported only when something trains: it pulls in Lightning.
"""
