"""EPRNet training toolchain for EPRStream.

Kept free of torch imports on purpose: quantize.py runs in a venv where torch
must not be importable (nncf 3.4 breaks with Debian's torch 1.13).
"""
