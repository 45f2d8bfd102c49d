"""Portrait: customer portraits, segments, propensities and next best actions on Spark."""

__version__ = "0.1.0"
