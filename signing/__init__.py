"""XML signatures, certificates and trust roots, and the axis's own evidence signatures.

Private keys are touched only inside this package.
"""
