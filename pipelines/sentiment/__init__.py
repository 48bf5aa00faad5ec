"""Sentiment and NLP: model loading and scoring, label mapping, symbol mapping, aggregation, training.

Heavy libraries (torch, transformers) are imported inside the functions that need them.
"""

from pipelines.sentiment.aggregation import aggregate_sentiment, join_sentiment
from pipelines.sentiment.labels import LABELS, Sentiment, label_order
from pipelines.sentiment.scorer import DEFAULT_MODEL, ModelLoadError, ScorerConfig, SentimentScorer, load_model
from pipelines.sentiment.symbols import SymbolMapper, SymbolMatch
from pipelines.sentiment.text import clean_text, detect_language

__all__ = [
    "DEFAULT_MODEL", "LABELS", "ModelLoadError", "ScorerConfig", "Sentiment", "SentimentScorer", "SymbolMapper",
    "SymbolMatch", "aggregate_sentiment", "clean_text", "detect_language", "join_sentiment", "label_order",
    "load_model",
]
