"""Receivers for humans (detokenizer: tokens -> image) and machines (classifier: tokens -> label)."""
from .classifier import ImageClassifier, LatentClassifier, LatentReconClassifier, TokenClassifier
from .detokenizer import Detokenizer

__all__ = ["Detokenizer", "ImageClassifier", "LatentClassifier", "LatentReconClassifier", "TokenClassifier"]
