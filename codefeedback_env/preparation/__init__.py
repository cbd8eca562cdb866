"""Preparation steps that run trusted reference code in the judge's sandbox to complete a dataset.

Loaders never run code: a dataset that needs computed data (MBPP+'s expected outputs) is prepared
once with `codefeedback prepare ...`, which writes a cache the loader reads.
"""
