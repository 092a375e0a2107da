"""Kept so that ``prepare`` and ``train`` keep importing from here: the one implementation of
connecting to Ray is :mod:`pipeline.scale.cluster` (the audits use it too)."""

from pipeline.scale.cluster import CONFLICTING, INSTALL, check_packages, connected, gather, installed

__all__ = ["CONFLICTING", "INSTALL", "check_packages", "connected", "gather", "installed"]
