"""The package's metadata, dependencies and spaCy entry points are in pyproject.toml (PEP 621);
this file lets tools that still call setup.py build it."""

from setuptools import setup

setup()
